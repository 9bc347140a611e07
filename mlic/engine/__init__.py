from .hooks import NumClassCheckHook
from .model_wrappers import CPUDistributedDataParallel
from .optim_wrappers import CPUAmpOptimWrapper

__all__ = [
    'CPUDistributedDataParallel', 'CPUAmpOptimWrapper', 'NumClassCheckHook'
]
