"""Training stopped from outside or by the machine: SIGTERM and Ctrl-C say
where to resume, a file-size limit names the file, a work dir that is a
file is said in words."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, TINY_CFG, load_tool

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it


def _env():
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
        [REPO, osp.join(REPO, 'tests', 'data')]))


def _slow_cfg(tmp_path):
    path = tmp_path / 'slow.py'
    path.write_text(f'_base_ = [{TINY_CFG!r}]\n'
                    "custom_imports = dict(imports=['plugins_for_tests'])\n"
                    "custom_hooks = [dict(type='SlowDownHook', seconds=0.3,"
                    ' from_epoch=1)]\n')
    return str(path)


@pytest.mark.parametrize('sig, code, why', [
    (signal.SIGTERM, 143, 'SIGTERM'),
    (signal.SIGINT, 130, r'an interrupt \(Ctrl-C\)'),
])
def test_a_stopped_training_says_where_to_resume(tmp_path, sig, code, why):
    import re
    work = tmp_path / 'work'
    cfg = _slow_cfg(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg,
         '--work-dir', str(work)], cwd=tmp_path, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marker = work / 'last_checkpoint'
    deadline = time.time() + 300
    while not (marker.exists() and marker.read_text().endswith(
            'epoch_1.pth')):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, out[-3000:]
    assert re.search(rf'Training stopped by {why}; the checkpoints in .*work '
                     rf'are intact. Resume from .*epoch_1.pth with: python '
                     rf'tools/train.py .*slow.py --work-dir .*work --resume',
                     out), out[-3000:]
    logs = [osp.join(r, f) for r, _, fs in os.walk(work) for f in fs
            if f.endswith('.log')]
    assert any('Training stopped by' in open(p).read() for p in logs)
    # the checkpoint named is whole (a temporary the signal may have cut
    # is removed by the next run: its process is gone)
    from mlic.engine import read_checkpoint
    assert read_checkpoint(str(work / 'epoch_1.pth'))['meta']['epoch'] == 1


def test_a_file_size_limit_names_the_checkpoint(tmp_path):
    """``ulimit -f``: the checkpoint cannot be written; the error names it
    and the limit, and leaves no temporary behind."""
    work = tmp_path / 'work'
    res = subprocess.run(
        ['bash', '-c', f'ulimit -f 100; exec {sys.executable} '
         f'{osp.join(REPO, "tools", "train.py")} {TINY_CFG} --work-dir '
         f'{work} --cfg-options train_cfg.max_epochs=1'],
        cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=300)
    assert res.returncode != 0
    assert 'epoch_1.pth reached the largest file this process may write ' \
        '(a file-size limit: ulimit -f' in res.stderr, res.stderr[-3000:]
    assert not [f for f in os.listdir(work) if f.endswith('.pth')
                or f.startswith('.tmp-')]


def test_a_work_dir_that_is_a_file_is_said_in_words(tmp_path):
    from mlic.fileio import OutputPathError
    blocker = tmp_path / 'results'
    blocker.write_text('not a folder')
    with pytest.raises(OutputPathError, match=r'the work dir \(--work-dir\) '
                       r'.*results is a file, not a folder'):
        load_tool('train').main([TINY_CFG, '--work-dir', str(blocker)])
    with pytest.raises(OutputPathError, match='cannot create the folder'):
        load_tool('train').main([TINY_CFG, '--work-dir',
                                 str(blocker / 'sub')])
