"""DDP for CPU-only machines (gloo)."""
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS

from mlic.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a module whose parameters are on CPU.

    mmengine's Runner passes ``device_ids=[LOCAL_RANK]``, which torch's DDP
    rejects for a CPU module; here they are dropped. Everything else
    (``train_step``/``val_step`` semantics, gradient all-reduce over gloo) is
    mmengine's. :func:`mlic.utils.adapt_cfg_for_device` selects it.
    """

    def __init__(self, module, device_ids=None, output_device=None,
                 **kwargs):
        super().__init__(module=module, device_ids=None, **kwargs)


# mmengine's Runner.wrap_model looks the wrapper type up in mmengine's *root*
# registry without switching to the default scope, so it is registered
# there as well.
MMENGINE_MODEL_WRAPPERS.register_module(module=CPUDistributedDataParallel)
