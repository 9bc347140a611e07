"""Mixed-precision evaluation: one autocast rule (fp16 on a GPU, bf16 on a
CPU) reached by --amp of the tools, test_cfg/val_cfg.fp16, the inferencer
and the benchmark's inference."""
import os.path as osp

import pytest
import torch

from conftest import REPO, TINY_CFG, load_tool
from mlic.engine import enable_eval_amp, eval_autocast
from mlic.engine.policy import eval_precision_name

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')


def test_eval_autocast_is_bf16_on_cpu_and_off_when_disabled():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with eval_autocast('cpu'):
        assert torch.is_autocast_enabled('cpu')
        assert (a @ b).dtype == torch.bfloat16
    with eval_autocast('cpu', enabled=False):
        assert not torch.is_autocast_enabled('cpu')
        assert (a @ b).dtype == torch.float32
    assert eval_precision_name('cpu', True) == 'bf16 autocast'
    assert eval_precision_name('cuda', True) == 'fp16 autocast'
    assert eval_precision_name('cuda', False) == 'fp32'
    with pytest.raises(ValueError, match="'mps'.*without --amp"):
        eval_autocast('mps')


def test_enable_eval_amp_keeps_the_loop_and_a_switched_off_one():
    from mmengine.config import Config
    cfg = Config(dict(val_cfg=dict(type='DualValLoop', select_by='mAP'),
                      test_cfg=dict()))
    enable_eval_amp(cfg, 'val_cfg', 'test_cfg')
    assert cfg.val_cfg == dict(type='DualValLoop', select_by='mAP',
                               fp16=True)
    assert cfg.test_cfg == dict(fp16=True)
    off = Config(dict(val_cfg=None))
    enable_eval_amp(off, 'val_cfg')
    assert off.val_cfg is None


def test_tools_amp_flags_reach_the_loops():
    from mlic.utils import load_config
    # a float32 config (the tiny ResNet baseline): --amp is what changes it
    assert load_config(TINY_CFG).optim_wrapper.get('type') in (
        None, 'OptimWrapper')
    train, test = load_tool('train'), load_tool('test')
    cfg = train.merge_args(load_config(TINY_CFG),
                           train.parse_args([TINY_CFG, '--amp']))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.val_cfg.fp16 is True
    cfg = train.merge_args(load_config(TINY_CFG),
                           train.parse_args([TINY_CFG, '--amp',
                                             '--no-validate']))
    assert cfg.val_cfg is None  # no validation stays none
    plain = train.merge_args(load_config(TINY_CFG),
                             train.parse_args([TINY_CFG]))
    assert not plain.val_cfg.get('fp16', False)
    cfg = test.merge_args(load_config(TINY_CFG),
                          test.parse_args([TINY_CFG, 'x.pth', '--amp']))
    assert cfg.test_cfg.fp16 is True
    assert not test.merge_args(load_config(TINY_CFG), test.parse_args(
        [TINY_CFG, 'x.pth'])).test_cfg.get('fp16', False)


def test_mmengine_loops_autocast_what_eval_autocast_does():
    """mmengine's ValLoop/TestLoop run ``fp16=True`` under its autocast: on
    a CPU the same bf16 autocast as eval_autocast."""
    from mmengine.runner.amp import autocast
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast(enabled=True, device_type='cpu'):
        loops = (a @ b).dtype
    with eval_autocast('cpu'):
        ours = (a @ b).dtype
    assert loops == ours == torch.bfloat16


def test_no_bf16_instructions_means_float32_evaluation(monkeypatch):
    from mlic.engine import cpu
    from mlic.engine.policy import eval_amp_allowed
    from mlic.engine.policy import eval_loop_cfg as cpu_eval_loop_cfg
    said = []
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: False)
    assert eval_amp_allowed('cpu', True, said.append) is False
    assert 'without bf16 instructions' in said[0] and 'float32' in said[0]
    assert eval_amp_allowed('cuda', True, said.append) is True
    assert eval_amp_allowed('cpu', False, said.append) is False
    assert len(said) == 1
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    loop = dict(type='DualValLoop', fp16=True)
    assert cpu_eval_loop_cfg(loop, said.append) == dict(
        type='DualValLoop', fp16=False)
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: True)
    assert cpu_eval_loop_cfg(loop, said.append) is loop


@pytest.mark.parametrize('bf16_cpu', [True, False])
def test_benchmark_inference_follows_test_cfg_fp16(monkeypatch, bf16_cpu):
    from mlic.engine import cpu
    from mlic.benchmarking import StepTimer
    from mlic.utils import load_config, register_all_modules
    register_all_modules()
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: bf16_cpu)
    seen = {}
    for amp in (False, True):
        cfg = load_config(TINY_Q2L, {'test_cfg.fp16': amp})
        timer = StepTimer(cfg, batch=2)
        test_step = timer.model.test_step

        def spy(data, amp=amp, test_step=test_step):
            seen[amp] = torch.is_autocast_enabled('cpu')
            return test_step(data)
        timer.model.test_step = spy
        timer.infer(1)
        assert timer.infer_dtype == ('bf16 autocast' if amp and bf16_cpu
                                     else 'fp32')
    assert seen == {False: False, True: bf16_cpu}


def test_the_run_set_up_resolves_the_machine_once(monkeypatch):
    """prepare_run turns the config into what this machine runs: the AMP
    wrapper and mixed-precision validation of a CPU without bf16
    instructions become float32, a distributed CPU run gets the CPU DDP
    wrapper, and the log of the run lists each change."""
    from mlic.engine import cpu, prepare_run
    from mlic.utils import load_config
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: False)
    monkeypatch.setattr(cpu, 'is_cpu_only', lambda: True)
    monkeypatch.setattr(cpu, 'init_cpu_distributed', lambda launcher: False)
    demo = osp.join(REPO, 'configs', 'q2l_irpe', 'shapes_demo.py')
    cfg = load_config(demo)
    notes = prepare_run(cfg, launcher='pytorch')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    assert cfg.val_cfg.fp16 is False
    assert cfg.model_wrapper_cfg.type == 'CPUDistributedDataParallel'
    assert any('training in float32' in n for n in notes)
    assert any('evaluating in float32' in n for n in notes)
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: True)
    cfg = load_config(demo)
    prepare_run(cfg)
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    assert cfg.val_cfg.fp16 is True and 'model_wrapper_cfg' not in cfg
