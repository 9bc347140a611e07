from .checkpoint import (CheckpointError, CheckpointMismatchError,
                         find_latest_checkpoint, read_checkpoint)
from .hooks import (CheckpointHook, DualEMAHook, FiniteLossHook,
                    NonFiniteLossError, NumClassCheckHook)
from .loops import DualValLoop
from .model_wrappers import CPUDistributedDataParallel
from .optim_wrappers import CPUAmpOptimWrapper
from .runner import MLICRunner, NonFiniteWeightsError, build_runner
from .schedulers import OneCycleLR

__all__ = [
    'CPUDistributedDataParallel', 'CPUAmpOptimWrapper', 'CheckpointError',
    'CheckpointHook', 'CheckpointMismatchError', 'DualEMAHook', 'DualValLoop',
    'FiniteLossHook', 'MLICRunner', 'NonFiniteLossError',
    'NonFiniteWeightsError', 'NumClassCheckHook', 'OneCycleLR', 'build_runner',
    'find_latest_checkpoint', 'read_checkpoint'
]
