"""Faults lose nothing and never pass silently.

Each test reproduces what a user hit: a diverging run, evaluating the wrong
checkpoint, a kill while a checkpoint is written, a moved work dir, a
learning-rate override that did nothing.
"""
import glob
import math
import os
import os.path as osp
import pickle
import shutil
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, TINY_CFG, load_tool
from mlic.engine import (CheckpointError, CheckpointMismatchError,
                         FiniteLossHook, NonFiniteLossError,
                         NonFiniteWeightsError, build_runner,
                         find_latest_checkpoint, read_checkpoint)
from mlic.evaluation import NonFiniteScoresError, multilabel_metrics
from mlic.engine.hooks import ScheduleMismatchError
from mlic.engine import prepare_run
from mlic.utils import load_config

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')
sys.path.insert(0, osp.join(REPO, 'tests', 'data'))


def train(config, work, *opts, extra=()):
    args = [config, '--work-dir', str(work)] + list(extra)
    if opts:
        args += ['--cfg-options'] + list(opts)
    return load_tool('train').main(args)


@pytest.fixture(scope='module')
def baseline_ckpt(tmp_path_factory):
    """One epoch of the tiny ResNet + linear-head baseline."""
    work = tmp_path_factory.mktemp('baseline')
    train(TINY_CFG, work, 'train_cfg.max_epochs=1')
    return str(work / 'epoch_1.pth')


@pytest.fixture(scope='module')
def q2l_work(tmp_path_factory):
    """Two epochs of the tiny demo model (IRPE encoder + decoder)."""
    work = tmp_path_factory.mktemp('q2l')
    train(TINY_Q2L, work, 'train_dataloader.num_workers=0',
          'train_dataloader.persistent_workers=False')
    return work


# -- divergence ----------------------------------------------------------

def test_divergence_stops_at_the_first_nan_loss(tmp_path):
    """lr=1e6: the loss reaches 3e18 in epoch 1 and NaN at the start of
    epoch 2; training stops there, naming where and the loss terms."""
    with pytest.raises(NonFiniteLossError) as err:
        train(TINY_CFG, tmp_path, 'optim_wrapper.optimizer.lr=1e6',
              extra=['--no-validate'])
    assert 'epoch 2, iteration 5 (batch 1 of the epoch): loss=nan' in \
        str(err.value)
    assert not (tmp_path / 'epoch_2.pth').exists()
    # last_checkpoint still names the last finite checkpoint
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_1.pth')


class _Runner:
    """The attributes FiniteLossHook reads."""

    def __init__(self, scaler):
        import logging
        self.epoch, self.iter = 0, 6
        self.logger = logging.getLogger('finite-loss-test')
        self.optim_wrapper = type('W', (), {'loss_scaler': scaler})()


def test_fp16_overflow_may_skip_a_bounded_number_of_steps():
    nan = {'loss': torch.tensor(float('nan')), 'loss_cls': torch.tensor(1.)}
    ok = {'loss': torch.tensor(0.5)}
    hook = FiniteLossHook(max_skips=2)
    runner = _Runner(scaler=object())  # a GradScaler skipped those steps
    hook.after_train_iter(runner, 0, outputs=nan)
    hook.after_train_iter(runner, 1, outputs=nan)
    hook.after_train_iter(runner, 2, outputs=ok)  # resets the count
    hook.after_train_iter(runner, 3, outputs=nan)
    hook.after_train_iter(runner, 4, outputs=nan)
    with pytest.raises(NonFiniteLossError, match='loss=nan, loss_cls=1.0'):
        hook.after_train_iter(runner, 5, outputs=nan)
    # without a loss scaler the step was applied: stop at once
    with pytest.raises(NonFiniteLossError):
        FiniteLossHook(max_skips=5).after_train_iter(_Runner(None), 0,
                                                     outputs=nan)
    with pytest.raises(ValueError, match='max_skips'):
        FiniteLossHook(max_skips=-1)


def test_nan_weights_are_never_saved(tmp_path):
    from mlic.utils import register_all_modules
    register_all_modules()
    cfg = load_config(TINY_CFG, None, str(tmp_path))
    prepare_run(cfg)
    runner = build_runner(cfg)
    with torch.no_grad():
        runner.model.head.fc.weight[0, 0] = float('nan')
    with pytest.raises(NonFiniteWeightsError, match='head.fc.weight'):
        runner.save_checkpoint(str(tmp_path), 'epoch_1.pth',
                               save_optimizer=False,
                               save_param_scheduler=False)
    assert not glob.glob(str(tmp_path / '*.pth'))
    assert not glob.glob(str(tmp_path / '.tmp-*'))


def test_nan_scores_are_refused():
    scores = np.full((4, 3), 0.5)
    scores[2, 1] = np.nan
    targets = np.eye(4, 3, dtype=int)
    with pytest.raises(NonFiniteScoresError, match=r'1 of 12 scores .* '
                       r'first: image 2, class 1'):
        multilabel_metrics(scores, targets)


def test_test_tool_refuses_a_nan_checkpoint(baseline_ckpt, tmp_path):
    ckpt = read_checkpoint(baseline_ckpt)
    ckpt['state_dict']['head.fc.weight'][:] = float('nan')
    bad = str(tmp_path / 'nan.pth')
    torch.save(ckpt, bad)
    with pytest.raises(NonFiniteScoresError, match='13 of 13 images'):
        load_tool('test').main([TINY_CFG, bad, '--work-dir', str(tmp_path)])


# -- the wrong checkpoint --------------------------------------------------

def test_test_tool_refuses_another_models_checkpoint(baseline_ckpt,
                                                     tmp_path):
    with pytest.raises(CheckpointMismatchError) as err:
        load_tool('test').main([TINY_Q2L, baseline_ckpt, '--work-dir',
                                str(tmp_path)])
    msg = str(err.value)
    assert 'does not fit the model of this config' in msg
    assert 'weights of the model are not in the checkpoint (neck.' in msg
    assert 'checkpoint tensors have no place in the model (backbone.' in msg
    assert '--partial-load' in msg
    # on purpose: loads what fits, says what did not, evaluates
    metrics = load_tool('test').main([TINY_Q2L, baseline_ckpt, '--work-dir',
                                      str(tmp_path), '--partial-load'])
    assert 0 <= metrics['mAP'] <= 100


def test_shape_mismatch_is_named(q2l_work, tmp_path):
    ckpt = str(q2l_work / 'epoch_2.pth')
    with pytest.raises(CheckpointMismatchError,
                       match=r'shapes differ \(head\.'):
        load_tool('test').main([TINY_Q2L, ckpt, '--work-dir', str(tmp_path),
                                '--cfg-options', 'model.head.num_classes=5',
                                'data_preprocessor.num_classes=5',
                                'test_dataloader.dataset.num_images.val=8'])


def test_load_from_and_resume_refuse_another_model(baseline_ckpt, tmp_path):
    with pytest.raises(CheckpointMismatchError, match='--partial-load'):
        train(TINY_Q2L, tmp_path / 'a', f'load_from={baseline_ckpt}',
              'train_dataloader.num_workers=0')
    with pytest.raises(CheckpointMismatchError) as err:
        train(TINY_Q2L, tmp_path / 'b', 'train_dataloader.num_workers=0',
              extra=['--resume', baseline_ckpt])
    assert '--partial-load' not in str(err.value)  # resume is always strict
    # stopped before any training step
    assert not glob.glob(str(tmp_path / 'b' / '*.pth'))


# -- files that are broken or being written --------------------------------

def test_empty_truncated_and_refused_files(q2l_work, tmp_path):
    good = q2l_work / 'epoch_2.pth'
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match=r'empty\.pth is empty '
                       r'\(0 bytes\)'):
        read_checkpoint(str(empty))
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(good.read_bytes()[:2_000_000])
    with pytest.raises(CheckpointError, match=r'cut\.pth is truncated'):
        read_checkpoint(str(cut))
    with pytest.raises(CheckpointError, match='truncated'):
        load_tool('test').main([TINY_Q2L, str(cut), '--work-dir',
                                str(tmp_path)])

    class Evil:
        def __reduce__(self):
            return (os.system, ('echo owned > owned.txt',))
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Evil()}, str(evil))
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(str(evil))
    msg = str(err.value)
    assert "is not on mlic's allow-list" in msg and 'system' in msg
    assert 'weights_only=False' not in msg
    assert not (tmp_path / 'owned.txt').exists()


def _break_best_write(monkeypatch, name):
    """Writing ``name`` stops half-way, as a kill would."""
    from mmengine.fileio.backends import LocalBackend
    put = LocalBackend.put

    def half_put(self, obj, filepath):
        if name in str(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise KeyboardInterrupt('killed while writing')
        return put(self, obj, filepath)
    monkeypatch.setattr(LocalBackend, 'put', half_put)


def test_kill_while_the_best_is_written_keeps_the_old_best(
        tmp_path, monkeypatch):
    cfg = tmp_path / 'rising.py'
    cfg.write_text(f'_base_ = [{TINY_Q2L!r}]\n'
                   "custom_imports = dict(imports=['plugins_for_tests'])\n"
                   "val_evaluator = dict(_delete_=True, type='RisingMetric')\n"
                   'test_evaluator = val_evaluator\n'
                   'train_dataloader = dict(num_workers=0, '
                   'persistent_workers=False)\n')
    work = tmp_path / 'work'
    _break_best_write(monkeypatch, 'best_mAP_epoch_2.pth')
    with pytest.raises(KeyboardInterrupt):
        train(str(cfg), work, 'train_cfg.max_epochs=3')
    monkeypatch.undo()
    # the old best is complete, the new one never appeared
    assert read_checkpoint(str(work / 'best_mAP_epoch_1.pth'))['state_dict']
    assert sorted(osp.basename(p) for p in glob.glob(
        str(work / 'best_mAP_epoch_*.pth'))) == ['best_mAP_epoch_1.pth']
    assert not glob.glob(str(work / '.tmp-*'))
    # resume (from epoch_2.pth, written before the kill) for the last
    # epoch of the same schedule: then one best, the new one
    train(str(cfg), work, 'train_cfg.max_epochs=3', extra=['--resume'])
    assert sorted(osp.basename(p) for p in glob.glob(
        str(work / 'best_mAP_epoch_*.pth'))) == ['best_mAP_epoch_3.pth']


def test_last_checkpoint_is_relative_and_a_moved_work_dir_resumes(
        baseline_ckpt, tmp_path):
    work = osp.dirname(baseline_ckpt)
    assert open(osp.join(work, 'last_checkpoint')).read() == 'epoch_1.pth'
    moved = tmp_path / 'moved'
    shutil.copytree(work, moved)
    # a killed write of a process that is gone (pid 2**22 + 1 is above
    # Linux's default pid_max), and one of a live process (this one)
    (moved / f'.tmp-{2**22 + 1}-epoch_9.pth').write_bytes(b'half')
    live = moved / f'.tmp-{os.getpid()}-epoch_8.pth'
    live.write_bytes(b'being written')
    # another schedule (2 epochs instead of the checkpoint's 1) is refused
    with pytest.raises(ScheduleMismatchError,
                       match='total_steps: checkpoint 4, now 8'):
        train(TINY_CFG, moved, 'train_cfg.max_epochs=2', extra=['--resume'])
    runner = train(TINY_CFG, moved, 'train_cfg.max_epochs=1',
                   extra=['--resume'])
    assert (runner.epoch, runner.iter) == (1, 4)  # read from epoch_1.pth
    assert not (moved / f'.tmp-{2**22 + 1}-epoch_9.pth').exists()
    assert live.exists()  # its owner is alive: kept
    # an absolute entry of an older run that was moved: same file name here
    (moved / 'last_checkpoint').write_text('/gone/elsewhere/epoch_1.pth')
    assert find_latest_checkpoint(str(moved)) == str(moved / 'epoch_1.pth')
    # an empty record (killed while written by an older mlic): newest file
    (moved / 'last_checkpoint').write_text('')
    assert find_latest_checkpoint(str(moved)) == str(moved / 'epoch_1.pth')


# -- learning-rate settings that act ----------------------------------------

def _lrs(runner):
    values, _ = runner.message_hub.get_scalar('train/lr').data
    return np.asarray(values)


def test_lr_override_auto_scale_and_max_epochs_act(tmp_path):
    """tiny: 32 images, batch 8 (4 iterations an epoch), 3 epochs in the
    config, base batch 32 -> --auto-scale-lr scales by 0.25."""
    runner = train(TINY_CFG, tmp_path, 'optim_wrapper.optimizer.lr=4e-3',
                   'train_cfg.max_epochs=2', extra=['--auto-scale-lr'])
    lrs = _lrs(runner)
    assert len(lrs) == 8
    peak = 4e-3 * 8 / 32
    assert runner.param_schedulers[0].eta_max == pytest.approx([peak])
    assert lrs[0] == pytest.approx(peak / 25, rel=1e-6)  # starts at peak/25
    assert lrs.max() <= peak * (1 + 1e-9)
    # the cycle ends with the shortened run (over the config's 3 epochs it
    # would still be at about 0.4 x peak at iteration 8)
    assert lrs[-1] < peak * 1e-2


def test_a_run_of_exactly_five_iterations_trains(tmp_path):
    """32 images at batch 7 is 5 iterations: pct_start 0.2 x 5 = 1 divided
    by zero in the one-cycle schedule; now it trains, the peak first."""
    runner = train(TINY_CFG, tmp_path, 'train_dataloader.batch_size=7',
                   'train_cfg.max_epochs=1')
    lrs = _lrs(runner)
    assert len(lrs) == 5 and np.isfinite(lrs).all()
    assert lrs[0] == pytest.approx(1e-3, rel=1e-4)
    assert list(lrs) == sorted(lrs, reverse=True)


def test_eta_max_that_disagrees_with_the_lr_is_an_error():
    from mlic.engine import OneCycleLR
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="eta_max=0.5 but the optimizer's "
                       'learning rate is 0.1'):
        OneCycleLR(opt, eta_max=0.5, total_steps=10)
    sched = OneCycleLR(opt, total_steps=10)
    assert sched.eta_max == [0.1]


def test_print_lr_schedule_follows_max_epochs():
    from mmengine.config import Config
    script = load_tool('analysis_tools/print_lr_schedule')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'q2l_irpe',
                                   'coco_r101_448.py'))
    cfg.merge_from_dict({'train_cfg.max_epochs': 2,
                         'optim_wrapper.optimizer.lr': 1e-4})
    lrs = script.lr_curve(cfg, 10)
    assert len(lrs) == 20
    assert max(lrs) == pytest.approx(1e-4)
    assert lrs[-1] < 1e-4 * 1e-3
    assert math.isclose(lrs[0], 1e-4 / 25, rel_tol=1e-6)


def test_pickled_rng_state_loads_weights_only(q2l_work):
    ckpt = read_checkpoint(str(q2l_work / 'epoch_2.pth'))
    state = ckpt['meta']['rng_state']
    assert set(state) >= {'python', 'numpy', 'torch'}
    assert pickle.dumps(state)  # plain data


def test_two_runs_in_one_second_do_not_share_a_message_hub(tmp_path):
    from mlic.utils import register_all_modules
    register_all_modules()
    runners = []
    for k in range(2):
        cfg = load_config(TINY_CFG, None, str(tmp_path / str(k)))
        prepare_run(cfg)
        runners.append(build_runner(cfg))
    a, b = runners
    assert a.experiment_name != b.experiment_name
    assert a.message_hub is not b.message_hub


def test_finite_loss_hook_is_on_unless_switched_off(tmp_path):
    from mlic.utils import register_all_modules
    register_all_modules()
    kinds = []
    for off in (False, True):
        opts = {'default_hooks.finite_loss': None} if off else None
        cfg = load_config(TINY_CFG, opts, str(tmp_path / str(off)))
        prepare_run(cfg)
        runner = build_runner(cfg)
        kinds.append(sum(isinstance(h, FiniteLossHook)
                         for h in runner.hooks))
    assert kinds == [1, 0]


def test_print_lr_schedule_command_line_overrides(capsys):
    script = load_tool('analysis_tools/print_lr_schedule')
    lrs = script.main([osp.join(REPO, 'configs', 'q2l_irpe',
                                'coco_r101_448.py'), '--iters-per-epoch', '5',
                       '--cfg-options', 'optim_wrapper.optimizer.lr=2e-4',
                       'train_cfg.max_epochs=3'])
    assert len(lrs) == 15 and max(lrs) == pytest.approx(2e-4)
    assert 'peak 2.000e-04' in capsys.readouterr().out


def test_print_lr_schedule_takes_gpus_and_batch(capsys):
    """8 GPUs x 16 = 128 images a step: ceil(82783 / 128) = 647 iterations
    an epoch; --auto-scale-lr scales the peak by 128 / base batch (96)."""
    from mmengine.config import Config
    script = load_tool('analysis_tools/print_lr_schedule')
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'coco_r101_448.py')
    cfg = Config.fromfile(config)
    base_lr = cfg.optim_wrapper.optimizer.lr
    base_batch = cfg.auto_scale_lr.base_batch_size
    lrs = script.main([config, '--gpus', '8', '--batch', '16',
                       '--auto-scale-lr', '--cfg-options',
                       'train_cfg.max_epochs=1'])
    assert len(lrs) == math.ceil(82783 / 128)
    assert max(lrs) == pytest.approx(base_lr * 128 / base_batch, rel=1e-4)
    out = capsys.readouterr().out
    assert '8 GPU(s) x batch 16 = 128 images a step' in out
    assert f'x{128 / base_batch:g}' in out
    lrs = script.main([config, '--gpus', '2', '--images', '1000',
                       '--cfg-options', 'train_cfg.max_epochs=1'])
    assert len(lrs) == math.ceil(1000 / (2 * cfg.train_dataloader.batch_size))
