"""EvalPolicy and the fold-BatchNorm rule, read from loop configs (unit:
no model is built)."""
import pytest
from mmengine.config import Config

from mlic.engine import cpu
from mlic.engine.policy import (FOLD_BN_DEFAULT, EvalPolicy, loop_folds,
                                optim_wrapper_cfg)


@pytest.mark.parametrize('loop, stage, folds', [
    (dict(type='FoldedTestLoop'), 'test', FOLD_BN_DEFAULT),
    (dict(type='MLICTestLoop'), 'test', True),  # earlier configs' name
    (dict(type='FoldedTestLoop', fold_bn=False), 'test', False),
    (dict(type='TestLoop'), 'test', False),  # mmengine's loop cannot
    (dict(type='DualValLoop'), 'val', True),
    (dict(type='DualValLoop', fold_bn=False), 'val', False),
    (dict(type='ValLoop'), 'val', False),
    (None, 'test', False),
])
def test_which_loops_fold(loop, stage, folds):
    assert loop_folds(loop, stage) is folds


def test_the_policy_of_the_test_and_of_the_val_loop(monkeypatch):
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: True)
    cfg = Config(dict(test_cfg=dict(type='FoldedTestLoop', fp16=True),
                      val_cfg=dict(type='DualValLoop', fold_bn=False)))
    assert EvalPolicy.from_config(cfg, 'cpu') == ('cpu', True, True)
    assert EvalPolicy.from_config(cfg, 'cpu', stage='val') == ('cpu', False,
                                                               False)
    # arguments win over the config
    assert EvalPolicy.from_config(cfg, 'cpu', amp=False, fold_bn=False) == \
        ('cpu', False, False)
    # a CPU without bf16 instructions evaluates in float32, said once
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: False)
    said = []
    assert EvalPolicy.from_config(cfg, 'cpu', logger_print=said.append) \
        == ('cpu', False, True)
    assert len(said) == 1 and 'float32' in said[0]
    assert EvalPolicy.from_config(cfg, 'cuda').precision_name == \
        'fp16 autocast'


def test_the_optimizer_wrapper_follows_the_machine(monkeypatch):
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    amp = dict(type='AmpOptimWrapper', loss_scale='dynamic',
               optimizer=dict(type='AdamW', lr=1e-3))
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: True)
    assert optim_wrapper_cfg(dict(amp), print)['type'] == \
        'CPUAmpOptimWrapper'
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: False)
    plain = optim_wrapper_cfg(dict(amp), print)
    assert plain['type'] == 'OptimWrapper' and 'loss_scale' not in plain
