"""Running on a machine without GPUs: process group, DDP and AMP.

mmengine assumes GPUs in three places, and mlic's Runner
(:class:`mlic.engine.MLICRunner`) replaces each, here:

* its distributed initialisation calls ``torch.cuda.set_device``:
  :func:`init_cpu_distributed` creates a gloo process group first (the
  tools' run set-up calls it), and the Runner then skips its own;
* its DDP wrapper passes GPU ids: :func:`wrap_model_for_cpu` uses
  :class:`CPUDistributedDataParallel` instead;
* its ``AmpOptimWrapper`` refuses a CPU: :func:`cpu_optim_wrapper_cfg`
  turns it into :class:`CPUAmpOptimWrapper` (bfloat16 autocast) on a CPU
  with bf16 instructions (x86 AVX512-BF16 or AMX, :func:`cpu_has_native_bf16`)
  and into float32 training on one without (bf16 autocast would be slower
  than float32 there), announced in the log either way.

And one that is not mmengine's assumption but a CPU's: mixed-precision
validation and testing (``val_cfg.fp16`` / ``test_cfg.fp16``) on a CPU
without bf16 instructions evaluates in float32, announced
(:func:`mlic.engine.eval_amp.cpu_eval_loop_cfg`).

On a machine with GPUs none of this changes anything.
"""
import os
from contextlib import contextmanager

import torch
import torch.distributed as torch_dist
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from mlic.registry import MODEL_WRAPPERS, OPTIM_WRAPPERS


def is_cpu_only():
    return not torch.cuda.is_available()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (x86 AVX512-BF16 or
    AMX), where bf16 autocast is faster than float32. Without them oneDNN
    emulates bf16 or torch falls back to slow kernels. torch's probes are
    private (``torch.cpu._is_*``); a torch without them counts as no."""
    probes = [getattr(torch.cpu, name, None) for name in
              ('_is_avx512_bf16_supported', '_is_amx_tile_supported')]
    return any(bool(probe()) for probe in probes if probe is not None)


def init_cpu_distributed(launcher):
    """Initialise a gloo process group when launched without GPUs.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` first, which
    fails on a CPU-only machine. Once a group exists, the Runner skips its
    own initialisation. Returns True when a group was created here.
    """
    if launcher == 'none' or not is_cpu_only() or torch_dist.is_initialized():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs GPUs; on a CPU-only machine use '
            '--launcher pytorch (tools/dist_train.sh / dist_test.sh).')
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(
                f'--launcher pytorch needs the environment variable {key}; '
                'start the job with torchrun (tools/dist_train.sh).')
    torch_dist.init_process_group(backend='gloo')
    return True


def finish_distributed():
    """Tear the process group down before the interpreter exits.

    Left to interpreter shutdown, a gloo group's threads are sometimes still
    joinable when its destructor runs, and a rank aborts ("terminate called
    without an active exception", exit code -6) after a successful run.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        try:
            torch_dist.barrier()
        finally:
            torch_dist.destroy_process_group()


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a module whose parameters are on CPU.

    mmengine's Runner passes ``device_ids=[LOCAL_RANK]``, which torch's DDP
    rejects for a CPU module; here they are dropped. Everything else
    (``train_step``/``val_step`` semantics, gradient all-reduce over gloo) is
    mmengine's. :class:`mlic.engine.MLICRunner` selects it (``wrap_model``).
    """

    def __init__(self, module, device_ids=None, output_device=None,
                 **kwargs):
        super().__init__(module=module, device_ids=None, **kwargs)


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """OptimWrapper that runs forward passes under CPU bfloat16 autocast.

    mmengine's ``AmpOptimWrapper`` (fp16 + dynamic loss scaling) is GPU-only.
    bfloat16 has float32's exponent range, so no loss scaling is needed; mlic's
    losses compute in float32 regardless. Accepts (and ignores) ``loss_scale``
    so a GPU AMP config switches over unchanged.
    """

    def __init__(self, *args, loss_scale=None, **kwargs):
        super().__init__(*args, **kwargs)

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model):
            with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
                yield


def wrap_model_for_cpu(model_wrapper_cfg, model):
    """The DDP wrapper of ``model`` on a CPU-only machine (None: not
    distributed, or the config names another wrapper than mmengine's)."""
    if not is_cpu_only() or not torch_dist.is_initialized():
        return None
    cfg = dict(model_wrapper_cfg or {})
    if cfg.pop('type', 'MMDistributedDataParallel') not in (
            'MMDistributedDataParallel', 'CPUDistributedDataParallel'):
        return None
    cfg.pop('device_ids', None)
    return CPUDistributedDataParallel(module=model, **cfg)


def cpu_optim_wrapper_cfg(optim, logger_print=print):
    """An ``AmpOptimWrapper`` config for a CPU-only machine: bfloat16
    autocast (fp16 loss scaling has no CPU implementation). Other configs
    (and every config on a GPU machine) come back unchanged."""
    if not is_cpu_only() or not isinstance(optim, dict) or \
            optim.get('type') != 'AmpOptimWrapper':
        return optim
    dtype = optim.get('dtype', None)
    new = {k: v for k, v in optim.items() if k not in ('loss_scale', 'dtype')}
    if not cpu_has_native_bf16():
        logger_print('AMP requested on a CPU-only machine without bf16 '
                     'instructions (AVX512-BF16 or AMX): training in float32 '
                     '(OptimWrapper), since bf16 autocast runs slower than '
                     'float32 there; optim_wrapper.type=CPUAmpOptimWrapper '
                     'forces bf16 autocast.')
        new['type'] = 'OptimWrapper'
        return new
    # A GPU recipe (fp16 + loss scaling) run on a CPU - tests, a laptop
    # smoke run, the built-in demo - keeps mixed precision the only way a
    # CPU offers it.
    asked = '' if dtype in (None, 'bfloat16', torch.bfloat16) else (
        f' (the config asks for dtype={dtype!r}, which needs a GPU)')
    logger_print('AMP requested on a CPU-only machine: using bfloat16 '
                 f'autocast (CPUAmpOptimWrapper){asked}; fp16 with loss '
                 'scaling needs a GPU.')
    new['type'] = 'CPUAmpOptimWrapper'
    return new
