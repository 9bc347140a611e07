from mlic.upstream.private import check_upstream  # noqa: F401  (first: fails loudly)
from .checkpoint import (CheckpointError, CheckpointMismatchError,
                         find_latest_checkpoint, read_checkpoint)
from mlic.fileio.checkpoint_allowlist import (allow_mmengine_checkpoints,
                                              mmengine_checkpoint_globals)
from .cpu import (CPUAmpOptimWrapper, CPUDistributedDataParallel,
                  finish_distributed, init_cpu_distributed, is_cpu_only)
from .hooks import (DualEMAHook, FiniteLossHook, NonFiniteLossError,
                    NonFiniteWeightsError, NumClassCheckHook, RandomStateHook,
                    SafeCheckpointHook, ScheduleCheckHook, WorkDirLockHook)
from .loops import DualValLoop, FoldedTestLoop
from .policy import EvalPolicy, enable_eval_amp, eval_autocast
from .run_setup import prepare_run, strip_training
from .runner import MLICRunner, build_runner
from .schedulers import OneCycleLR

__all__ = [
    'CPUDistributedDataParallel', 'CPUAmpOptimWrapper', 'CheckpointError',
    'SafeCheckpointHook', 'WorkDirLockHook', 'CheckpointMismatchError',
    'DualEMAHook', 'DualValLoop',
    'FiniteLossHook', 'MLICRunner', 'NonFiniteLossError',
    'NonFiniteWeightsError', 'NumClassCheckHook', 'OneCycleLR',
    'RandomStateHook', 'ScheduleCheckHook', 'build_runner',
    'find_latest_checkpoint', 'read_checkpoint', 'allow_mmengine_checkpoints',
    'mmengine_checkpoint_globals', 'finish_distributed',
    'init_cpu_distributed', 'is_cpu_only', 'check_upstream',
    'enable_eval_amp', 'eval_autocast', 'EvalPolicy', 'FoldedTestLoop',
    'prepare_run', 'strip_training'
]
