"""AMP on a CPU-only machine: bf16 autocast where the CPU has bf16
instructions, float32 where it has not (bf16 would be slower there), said
in the log either way."""
import os

import pytest

from mlic.engine import cpu

OPTIMIZER = dict(type='AdamW', lr=1e-3)
AMP = dict(type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16',
           optimizer=OPTIMIZER)


def test_amp_on_a_cpu_follows_its_bf16_instructions(monkeypatch):
    said = []
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: True)
    assert cpu.cpu_optim_wrapper_cfg(dict(AMP), said.append) == dict(
        type='CPUAmpOptimWrapper', optimizer=OPTIMIZER)
    assert 'bfloat16 autocast' in said[-1] and "dtype='float16'" in said[-1]
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: False)
    assert cpu.cpu_optim_wrapper_cfg(dict(AMP), said.append) == dict(
        type='OptimWrapper', optimizer=OPTIMIZER)
    assert 'without bf16 instructions' in said[-1]
    assert 'optim_wrapper.type=CPUAmpOptimWrapper' in said[-1]  # the fix
    forced = dict(type='CPUAmpOptimWrapper', optimizer=OPTIMIZER)
    assert cpu.cpu_optim_wrapper_cfg(dict(forced), said.append) == forced
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: False)  # a GPU machine
    assert cpu.cpu_optim_wrapper_cfg(dict(AMP), said.append) == AMP
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
