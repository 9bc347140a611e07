"""Mixed precision on a CPU: bfloat16 autocast."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from mlic.registry import OPTIM_WRAPPERS


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
