"""A run resumed after a kill ends with the same weights, bit for bit.

Tiny demo model (IRPE encoder and decoder with dropout), random
augmentation (flip, Cutout, RandAugment), for each loader setting a user
may ship: 2 persistent workers (the shipped default), 2 workers recreated
every epoch, and loading in the main process. Each case: a run stopped in
the middle of epoch 2 and ``--resume`` from its epoch 1 checkpoint, against
one uninterrupted 2-epoch run (the same for every loader setting).
"""
import os.path as osp
import sys

import pytest
import torch

from conftest import REPO, load_tool
from mlic.engine import read_checkpoint

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

sys.path.insert(0, osp.join(REPO, 'tests', 'data'))
from plugins_for_tests import RunInterrupted  # noqa: E402

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')
PLUGINS = ["custom_imports.imports=['plugins_for_tests']",
           'custom_imports.allow_failed_imports=False']


def _train(work, loader_opts, extra=(), config=TINY_Q2L):
    args = [config, '--work-dir', str(work), '--cfg-options'] + \
        loader_opts + PLUGINS + list(extra)
    return load_tool('train').main(args)


def _interrupting_config(tmp_path):
    path = tmp_path / 'interrupted.py'
    path.write_text(f'_base_ = [{TINY_Q2L!r}]\n'
                    "custom_hooks = [dict(type='NumClassCheckHook'), "
                    "dict(type='InterruptHook', epoch=2, at_iter=2)]\n")
    return str(path)


def _weights(path):
    return read_checkpoint(str(path))['state_dict']


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """The 2-epoch run without a kill, loading in the main process. Every
    sample is augmented under its own seed, so the run is the same with any
    loader setting: one reference serves all three cases."""
    work = tmp_path_factory.mktemp('full')
    _train(work, ['train_dataloader.num_workers=0',
                  'train_dataloader.persistent_workers=False'])
    return work


@pytest.mark.parametrize('workers,persistent', [(2, True), (2, False),
                                                (0, False)])
def test_resume_is_bit_exact(tmp_path, uninterrupted, workers, persistent):
    opts = [f'train_dataloader.num_workers={workers}',
            f'train_dataloader.persistent_workers={persistent}']
    with pytest.raises(RunInterrupted):
        _train(tmp_path / 'killed', opts,
               config=_interrupting_config(tmp_path))
    assert not (tmp_path / 'killed' / 'epoch_2.pth').exists()
    _train(tmp_path / 'killed', opts + ['resume=True'])
    full = _weights(uninterrupted / 'epoch_2.pth')
    resumed = _weights(tmp_path / 'killed' / 'epoch_2.pth')
    assert full.keys() == resumed.keys()
    differ = [k for k in full if not torch.equal(full[k], resumed[k])]
    assert not differ, f'{len(differ)} of {len(full)} tensors differ'
    # and the run really trained: epoch 2 moved the weights from epoch 1
    first = _weights(uninterrupted / 'epoch_1.pth')
    assert any(not torch.equal(first[k], full[k]) for k in full)


def test_augmentation_does_not_depend_on_the_loader(tmp_path):
    """The same sample in the same epoch gets the same augmentation in
    the main process and in a worker; another epoch gets another one."""
    from mlic.engine import MLICRunner
    from mlic.utils import load_config, register_all_modules
    register_all_modules()
    cfg = load_config(TINY_Q2L, {'train_dataloader.batch_size': 16})
    batches = {}
    for workers in (0, 2):
        loader_cfg = dict(cfg.train_dataloader, num_workers=workers,
                          persistent_workers=workers > 0)
        loader = MLICRunner.build_dataloader(loader_cfg, seed=0)
        for epoch in (0, 1):
            loader.sampler.set_epoch(epoch)
            batch = next(iter(loader))
            order = [s.metainfo['sample_idx'] for s in batch['data_samples']]
            imgs = dict(zip(order, batch['inputs']))
            batches[workers, epoch] = imgs
    for epoch in (0, 1):
        a, b = batches[0, epoch], batches[2, epoch]
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    e0, e1 = batches[0, 0], batches[0, 1]
    assert any(not torch.equal(e0[k], e1[k]) for k in e0)


def test_stop_after_epoch_then_resume_is_the_uninterrupted_run(
        tmp_path, uninterrupted):
    """--stop-after-epoch 1 of a 2-epoch run: epoch 1's checkpoint, no
    epoch 2; --resume finishes the run the uninterrupted one is."""
    opts = ['train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False']
    work = tmp_path / 'stopped'
    train = load_tool('train')
    train.main([TINY_Q2L, '--work-dir', str(work), '--stop-after-epoch', '1',
                '--cfg-options'] + opts + PLUGINS)
    assert (work / 'epoch_1.pth').exists()
    assert not (work / 'epoch_2.pth').exists()
    # the same lr as the 2-epoch run at that point (not a 1-epoch schedule)
    ck = read_checkpoint(str(work / 'epoch_1.pth'))
    ref = read_checkpoint(str(uninterrupted / 'epoch_1.pth'))
    assert ck['message_hub']['runtime_info']['max_epochs'] == 2
    assert all(torch.equal(ck['state_dict'][k], ref['state_dict'][k])
               for k in ref['state_dict'])
    train.main([TINY_Q2L, '--work-dir', str(work), '--resume',
                '--cfg-options'] + opts + PLUGINS)
    full = _weights(uninterrupted / 'epoch_2.pth')
    resumed = _weights(work / 'epoch_2.pth')
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_stop_after_epoch_refuses_what_it_cannot_keep(tmp_path):
    train = load_tool('train')
    with pytest.raises(SystemExit, match='the run has 2 epochs'):
        train.main([TINY_Q2L, '--work-dir', str(tmp_path / 'a'),
                    '--stop-after-epoch', '2'])
    with pytest.raises(SystemExit, match='every 2 epochs.*multiple of 2'):
        train.main([TINY_Q2L, '--work-dir', str(tmp_path / 'b'),
                    '--stop-after-epoch', '1', '--cfg-options',
                    'default_hooks.checkpoint.interval=2'])
