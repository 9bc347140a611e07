"""The README's Quick start and CI stay in step."""
import os.path as osp
import re

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _quickstart_commands():
    text = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    section = text.split('## Quick start', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'```bash\n(.*?)\n```', section, re.S)


def test_quickstart_has_two_commands_and_ci_runs_the_second():
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert all('\n' not in c for c in commands)
    ci = open(osp.join(REPO, '.ci', 'run'), encoding='utf-8').read()
    assert commands[1] in ci.splitlines()


def test_quickstart_configs_exist():
    for path in re.findall(r'configs/\S+\.py', _quickstart_commands()[0]):
        assert osp.isfile(osp.join(REPO, path)), path
