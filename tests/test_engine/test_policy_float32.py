"""``--cfg-options optim_wrapper.type=OptimWrapper`` turns an AMP config
(the paper's, the demo) into float32 training instead of failing on the
AMP-only keys; what is dropped is said."""
import os

from mlic.engine import cpu
from mlic.engine.policy import float32_optim_wrapper_cfg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
OPTIMIZER = dict(type='AdamW', lr=1e-3)


def test_the_amp_only_keys_are_dropped_and_named():
    said = []
    amp = dict(type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16',
               clip_grad=dict(max_norm=1.0), optimizer=OPTIMIZER)
    assert float32_optim_wrapper_cfg(dict(amp), said.append) == amp
    plain = dict(amp, type='OptimWrapper')
    assert float32_optim_wrapper_cfg(plain, said.append) == dict(
        type='OptimWrapper', clip_grad=dict(max_norm=1.0),
        optimizer=OPTIMIZER)
    assert len(said) == 1
    assert "loss_scale='dynamic'" in said[0] and "dtype='float16'" in said[0]
    already = dict(type='OptimWrapper', optimizer=OPTIMIZER)
    assert float32_optim_wrapper_cfg(already, said.append) is already
    assert len(said) == 1


def test_the_demo_switched_to_float32_builds_and_keeps_its_clip(
        tmp_path, monkeypatch):
    import torch
    from mlic.engine import build_runner, prepare_run
    from mlic.utils import load_config
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    cfg = load_config(
        os.path.join(REPO, 'configs', 'q2l_irpe', 'shapes_demo.py'),
        {'optim_wrapper.type': 'OptimWrapper'}, work_dir=str(tmp_path))
    assert cfg.optim_wrapper.loss_scale == 'dynamic'  # still in the config
    runner = build_runner(cfg, prepare_run(cfg))
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'OptimWrapper'
    assert wrapper.clip_grad_kwargs == dict(max_norm=1.0)
    with wrapper.optim_context(runner.model):
        assert not torch.is_autocast_enabled('cpu')


def test_an_amp_config_on_a_cpu_without_bf16_builds_in_float32(
        tmp_path, monkeypatch):
    """The CPU fallback (float32 where bf16 would be slow) gets the same
    treatment: no AMP-only key reaches OptimWrapper, use_fsdp included."""
    from mlic.engine import build_runner, prepare_run
    from mlic.utils import load_config
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: False)
    cfg = load_config(
        os.path.join(REPO, 'configs', 'q2l_irpe', 'shapes_demo.py'),
        {'optim_wrapper.use_fsdp': False, 'optim_wrapper.dtype': 'float16'},
        work_dir=str(tmp_path))
    runner = build_runner(cfg, prepare_run(cfg))
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'OptimWrapper'
    assert wrapper.clip_grad_kwargs == dict(max_norm=1.0)
