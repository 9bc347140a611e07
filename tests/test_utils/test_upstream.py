"""What mlic relies on in mmengine's internals still holds.

Every private mmengine name mlic uses goes through mlic/upstream/private.py;
these tests fail (in CI, not in a user's run) when an mmengine release
renames one or changes the behaviour mlic depends on.
"""
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner

from mlic.upstream import private as upstream
from mlic.registry import HOOKS
from mlic.utils import register_all_modules


def test_every_private_name_exists():
    upstream.check_upstream()
    assert upstream.PRIVATE_NAMES  # the list is the contract


def test_missing_private_name_fails_loudly(monkeypatch):
    monkeypatch.setattr(upstream, 'PRIVATE_NAMES',
                        upstream.PRIVATE_NAMES + ((EMAHook, '_gone'), ))
    with pytest.raises(upstream.UpstreamChanged,
                       match=r'mmengine 0\.\d+\.\d+ does not have: EMAHook\._gone'):
        upstream.check_upstream()


def test_parse_losses_summary():
    losses = {'loss_cls': HistoryBuffer(), 'acc': HistoryBuffer()}
    for v in (1.0, 3.0):
        losses['loss_cls'].update(v)
        losses['acc'].update(v * 10)
    out = upstream.parse_losses(losses, 'val')
    assert out == {'loss_cls': 2.0, 'acc': 20.0, 'val_loss': 2.0}


def test_update_losses_takes_the_loss_element_out():
    """A step's outputs may end in a BaseDataElement holding only
    ``loss``: ValLoop/TestLoop (and mlic's loops) take it out and record
    each value; other outputs pass unchanged."""
    from mmengine.structures import BaseDataElement
    samples = [BaseDataElement(pred=1), BaseDataElement(pred=2)]
    loss = BaseDataElement(loss=dict(loss_cls=torch.tensor(3.0),
                                     parts=[torch.tensor(1.0),
                                            torch.tensor(5.0)]))
    out, losses = upstream.update_losses(samples + [loss], {})
    assert out == samples
    assert losses['loss_cls'].data[0].tolist() == [3.0]
    assert losses['parts'].data[0].tolist() == [1.0, 5.0]
    out, same = upstream.update_losses(samples, losses)
    assert out == samples and same is losses
    assert losses['loss_cls'].data[0].tolist() == [3.0]


def test_swap_ema_parameters_exchanges_weights():
    model = torch.nn.Linear(2, 2)
    hook = EMAHook(momentum=0.5)
    hook.before_run(SimpleNamespace(model=model))
    with torch.no_grad():
        model.weight.fill_(1.0)
        hook.ema_model.module.weight.fill_(2.0)
    upstream.swap_ema_parameters(hook)
    assert torch.all(model.weight == 2.0)
    assert torch.all(hook.ema_model.module.weight == 1.0)


def test_runner_attributes_and_resume_state(tmp_path):
    runner = Runner(model=torch.nn.Linear(1, 1), work_dir=str(tmp_path),
                    load_from='x.pth', resume=True,
                    experiment_name='upstream_attrs')
    upstream.check_runner_attributes(runner)
    assert upstream.runner_resume_state(runner) == (True, 'x.pth')
    upstream.set_runner_load_from(runner, 'y.pth')
    assert upstream.runner_resume_state(runner) == (True, 'y.pth')
    assert upstream.runner_is_resuming(runner)


def _recorder(name):
    def record(self, *args, **kwargs):
        _RecordHook.calls.append(name)
    return record


_VAL_HOOKS = ('before_val', 'before_val_epoch', 'before_val_iter',
              'after_val_iter', 'after_val_epoch', 'after_val')
_RecordHook = HOOKS.register_module(force=True, module=type(
    '_RecordHook', (Hook, ), {n: _recorder(n) for n in _VAL_HOOKS}))
_RecordHook.calls = []


def _val_calls(tmp_path, val_cfg):
    import os.path as osp
    import sys
    sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(
        __file__))), 'test_engine'))
    from test_ema import _ToyData  # noqa: F401  (registers _ScoreModel)
    register_all_modules()
    loader = dict(dataset=_ToyData(), batch_size=2, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='pseudo_collate'))
    runner = Runner(model=dict(type='_ScoreModel'), work_dir=str(tmp_path),
                    val_dataloader=loader, val_cfg=val_cfg,
                    val_evaluator=dict(type='MLICMetric'),
                    custom_hooks=[dict(type='_RecordHook')],
                    default_scope='mlic',
                    experiment_name=f'order_{val_cfg.get("type", "val")}')
    _RecordHook.calls = []
    runner.val()
    return list(_RecordHook.calls)


def test_dual_val_loop_calls_hooks_as_val_loop(tmp_path):
    """DualValLoop.run repeats ValLoop.run's hook sequence."""
    plain = _val_calls(tmp_path / 'a', dict())
    dual = _val_calls(tmp_path / 'b', dict(type='DualValLoop'))
    assert plain[:2] == ['before_val', 'before_val_epoch']
    assert plain[-2:] == ['after_val_epoch', 'after_val']
    assert plain.count('before_val_iter') == 2  # 4 images, batch 2
    assert dual == plain


def test_the_package_configs_are_found_in_a_source_checkout():
    """'mlic::' in _base_ resolves to the repository's configs/ here (a
    wheel ships them as mlic/.mim/configs)."""
    import os.path as osp
    from conftest import REPO
    assert upstream.package_configs_dir() == osp.join(REPO, 'configs')
