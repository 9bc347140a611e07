from .hooks import DualEMAHook, NumClassCheckHook
from .loops import DualValLoop
from .model_wrappers import CPUDistributedDataParallel
from .optim_wrappers import CPUAmpOptimWrapper

__all__ = [
    'CPUDistributedDataParallel', 'CPUAmpOptimWrapper', 'DualEMAHook',
    'DualValLoop', 'NumClassCheckHook'
]
