"""A training log opens with the run's summary (what, where, how long,
which classes and how many images); mmengine's environment, config and
hook tables are at DEBUG (shown with log_level='DEBUG')."""
import glob
import os.path as osp

from conftest import REPO, load_tool

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')
OPTS = ['train_cfg.max_epochs=1', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False']


def _log(work):
    path, = glob.glob(osp.join(work, '*', '*.log'))
    with open(path) as f:
        return f.read()


def test_log_starts_with_the_summary(tmp_path):
    load_tool('train').main([TINY_Q2L, '--work-dir', str(tmp_path / 'a'),
                             '--cfg-options'] + OPTS)
    text = _log(tmp_path / 'a')
    lines = [line for line in text.splitlines() if ' - INFO - ' in line]
    summary = next(i for i, line in enumerate(lines) if ' Run: ' in line)
    assert summary <= 2, lines[:4]
    assert (f'Run: tiny_q2l.py -> {tmp_path / "a"}; 1 epochs; batch 4 x 1 '
            'process; peak lr 0.002') in lines[summary]
    assert 'Classes (12)' in lines[summary + 1]
    assert 'train 16 images, val 8 images' in lines[summary + 1]
    for table in ('System environment', 'Hooks will be executed',
                  'Config:'):
        assert table not in text
    # mmengine's parameter-initialisation table (written straight to the
    # file) comes after the summary
    if 'Name of parameter' in text:
        assert text.index(' Run: ') < text.index('Name of parameter')


def test_debug_level_shows_the_tables(tmp_path):
    load_tool('train').main([TINY_Q2L, '--work-dir', str(tmp_path / 'b'),
                             '--cfg-options', 'log_level=DEBUG'] + OPTS)
    text = _log(tmp_path / 'b')
    assert 'System environment' in text and 'Hooks will be executed' in text
