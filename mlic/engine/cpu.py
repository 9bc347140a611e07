"""Running on a machine without GPUs: the facts and the pieces.

mmengine assumes GPUs in three places; mlic's run set-up
(:mod:`mlic.engine.run_setup`) replaces each with what is here:

* its distributed initialisation calls ``torch.cuda.set_device``:
  :func:`init_cpu_distributed` creates a gloo process group first, and the
  Runner then skips its own;
* its DDP wrapper passes GPU ids: :class:`CPUDistributedDataParallel`
  (set as ``model_wrapper_cfg`` of a distributed CPU run);
* its ``AmpOptimWrapper`` refuses a CPU: :class:`CPUAmpOptimWrapper`
  (bfloat16 autocast) where the CPU has bf16 instructions
  (:func:`cpu_has_native_bf16`); the rule that picks it is
  :func:`mlic.engine.policy.optim_wrapper_cfg`.

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
    mmengine's. The run set-up names it in ``model_wrapper_cfg`` of a
    distributed run on a CPU-only machine.
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
