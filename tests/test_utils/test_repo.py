"""The README's Quick start and CI stay in step."""
import glob
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


def _tracked_text_files():
    import subprocess
    out = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return [f for f in out if f.endswith(('.py', '.md', '.sh', '.txt',
                                          '.cfg', '.ini', 'run'))
            and osp.isfile(osp.join(REPO, f))]  # not deleted, unstaged


def test_nothing_cites_a_file_outside_the_repository():
    """A clone must be self-contained: no reference to the project's
    private notes or to a folder beside the checkout."""
    outside = re.compile(r'\b(SPEC|DESIGN)\.md\b|\.\./shared\b')
    hits = []
    for rel in _tracked_text_files():
        with open(osp.join(REPO, rel), encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                if outside.search(line):
                    hits.append(f'{rel}:{n}: {line.strip()}')
    # this file names the pattern itself
    hits = [h for h in hits if not h.startswith('tests/test_utils/test_repo')]
    assert not hits, '\n'.join(hits)


def test_docs_links_resolve():
    """Every relative link in README.md and docs/ names an existing file
    (and an existing heading, for #anchors into a page)."""
    def anchors(path):
        text = open(path, encoding='utf-8').read()
        heads = re.findall(r'^#+ (.+)$', text, re.M)
        return {re.sub(r'[^a-z0-9 _-]', '', h.lower()).replace(' ', '-')
                for h in heads}
    pages = ['README.md'] + [f for f in _tracked_text_files()
                             if f.startswith('docs/') and f.endswith('.md')]
    bad = []
    for page in pages:
        text = open(osp.join(REPO, page), encoding='utf-8').read()
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if '://' in target or target.startswith('mailto:'):
                continue
            path, _, anchor = target.partition('#')
            full = osp.normpath(osp.join(REPO, osp.dirname(page), path)) \
                if path else osp.join(REPO, page)
            if not osp.exists(full):
                bad.append(f'{page}: {target}')
            elif anchor and full.endswith('.md') and \
                    anchor not in anchors(full):
                bad.append(f'{page}: {target} (no such heading)')
    assert not bad, '\n'.join(bad)


def test_every_paper_config_is_in_the_model_index_and_back():
    """model-index.yml imports the metafiles; each paper config (not the
    ablations, not the built-in demos) has an entry, and each entry names
    an existing config, its README and unique model names."""
    import glob

    import yaml
    index = yaml.safe_load(open(osp.join(REPO, 'model-index.yml')))
    entries = []
    for metafile in index['Import']:
        assert osp.isfile(osp.join(REPO, metafile)), metafile
        meta = yaml.safe_load(open(osp.join(REPO, metafile)))
        for collection in meta['Collections']:
            assert osp.isfile(osp.join(REPO, collection['README']))
        entries += meta['Models']
    configs = [e['Config'] for e in entries]
    for config in configs:
        assert osp.isfile(osp.join(REPO, config)), config
    names = [e['Name'] for e in entries]
    assert len(set(names)) == len(names)
    paper = sorted(osp.relpath(p, REPO) for p in glob.glob(
        osp.join(REPO, 'configs', 'q2l_irpe', '*.py'))
        if osp.basename(p).startswith(('coco', 'voc')))
    assert sorted(configs) == paper
    # the naming rule the metafile states, with its one exception
    import re
    exceptions = {'q2l-irpe_convnextv2-b_coco-384':
                  'configs/q2l_irpe/coco_convnextv2.py'}
    for entry in entries:
        match = re.fullmatch(r'q2l-irpe_([a-z0-9-]+)_([a-z0-9+]+)-(\d+)',
                             entry['Name'])
        assert match, entry['Name']
        backbone, dataset, size = match.groups()
        plus = '_plus07' if dataset.endswith('+07') else ''
        expected = (f'configs/q2l_irpe/{dataset.replace("+07", "")}_'
                    f'{backbone.replace("-", "")}_{size}{plus}.py')
        assert entry['Config'] == exceptions.get(entry['Name'], expected)
    version = {}
    exec(open(osp.join(REPO, 'mlic', 'version.py')).read(), version)
    for metafile in index['Import']:
        meta = yaml.safe_load(open(osp.join(REPO, metafile)))
        for collection in meta['Collections']:
            code = collection['Code']
            assert osp.isdir(osp.join(REPO, code['URL'])), code
            assert code['Version'] == f'mlic {version["__version__"]}'


def test_model_zoo_plans_every_paper_config_and_marks_its_figures():
    """docs/model_zoo.md "on N GPUs": a wall-time row for every paper
    config, each throughput marked measured (M) or estimated (E: with the
    rule), and none of the sentences that contradicted the figures."""
    with open(osp.join(REPO, 'docs', 'model_zoo.md'), encoding='utf-8') as f:
        text = f.read()
    plan = text[text.index('## Train the paper'):text.index(
        '6. **CPU cores')]
    configs = sorted(osp.basename(p) for p in glob.glob(
        osp.join(REPO, 'configs', 'q2l_irpe', '*.py'))
        if osp.basename(p).startswith(('coco_', 'voc')))
    for name in configs:
        rows = [line for line in plan.splitlines()
                if line.strip().startswith(f'| `{name}`')]
        assert len(rows) == 1, f'no wall-time row for {name}'
        cell = rows[0].split('|')[3]
        assert '(M' in cell or '(E: ' in cell, rows[0]
    assert 'no GPU was available' not in text
    assert 'A 16 GB\n   card fits every config' not in text
