"""AMP on a CPU-only machine: bf16 autocast where the CPU has bf16
instructions, float32 where it has not (bf16 would be slower there), said
in the log either way."""
import os

import pytest

from mlic.engine import cpu, policy

OPTIMIZER = dict(type='AdamW', lr=1e-3)
AMP = dict(type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16',
           optimizer=OPTIMIZER)


def test_amp_on_a_cpu_follows_its_bf16_instructions(monkeypatch):
    said = []
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: True)
    assert policy.cpu_optim_wrapper_cfg(dict(AMP), said.append) == dict(
        type='CPUAmpOptimWrapper', optimizer=OPTIMIZER)
    assert 'bfloat16 autocast' in said[-1] and "dtype='float16'" in said[-1]
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: False)
    assert policy.cpu_optim_wrapper_cfg(dict(AMP), said.append) == dict(
        type='OptimWrapper', optimizer=OPTIMIZER)
    assert 'without bf16 instructions' in said[-1]
    assert 'optim_wrapper.type=CPUAmpOptimWrapper' in said[-1]  # the fix
    forced = dict(type='CPUAmpOptimWrapper', optimizer=OPTIMIZER)
    assert policy.cpu_optim_wrapper_cfg(dict(forced), said.append) == forced
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: False)  # a GPU machine
    assert policy.cpu_optim_wrapper_cfg(dict(AMP), said.append) == AMP
    assert len(said) == 2


def test_the_bf16_probe_agrees_with_the_cpu_flags():
    if not os.path.exists('/proc/cpuinfo'):
        pytest.skip('no /proc/cpuinfo to compare with')
    with open('/proc/cpuinfo') as f:
        flags = set(' '.join(line.split(':', 1)[1] for line in f
                             if line.startswith('flags')).split())
    if not flags:
        pytest.skip('/proc/cpuinfo lists no flags (not x86)')
    expected = bool({'avx512_bf16', 'amx_bf16'} & flags)
    assert cpu.cpu_has_native_bf16() == expected


@pytest.mark.parametrize('native_bf16', [True, False])
def test_the_demo_trains_in_amp_with_its_gradient_norm_clipped(
        tmp_path, monkeypatch, native_bf16):
    """The built-in demo's recipe: AMP where it pays, and the gradient norm
    clipped at 1 on either path (a CPU without bf16 keeps the clip)."""
    import torch
    from mmengine.logging import MessageHub
    from mlic.engine import build_runner, prepare_run
    from mmpretrain.structures import DataSample
    from mlic.utils import load_config
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: native_bf16)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    cfg = load_config(os.path.join(repo, 'configs', 'q2l_irpe',
                                   'shapes_demo.py'), work_dir=str(tmp_path))
    runner = build_runner(cfg, prepare_run(cfg))
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    assert type(wrapper).__name__ == (
        'CPUAmpOptimWrapper' if native_bf16 else 'OptimWrapper')
    assert wrapper.clip_grad_kwargs == dict(max_norm=1.0)
    # validation in bf16 where it pays, float32 on a CPU without bf16
    assert cfg.val_cfg.fp16 is native_bf16
    torch.manual_seed(0)
    x = torch.rand(4, 3, 64, 64) * 255
    samples = [DataSample().set_gt_label([i, (i + 5) % 12]) for i in range(4)]
    data = runner.model.data_preprocessor(
        dict(inputs=list(x), data_samples=samples), True)
    with wrapper.optim_context(runner.model):
        assert torch.is_autocast_enabled('cpu') == native_bf16
        losses = runner.model(**data, mode='loss')
    wrapper.backward(sum(losses.values()))
    params = [p for p in runner.model.parameters() if p.grad is not None]
    before = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    assert before > 1.5  # a fresh model's gradient (about 2.4 in training)
    wrapper.step()
    after = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    assert abs(after.item() - 1.0) < 1e-4  # clipped in place before the step
    logged = MessageHub.get_current_instance().get_scalar('train/grad_norm')
    assert abs(logged.current() - before.item()) < 1e-3 * before.item()
