from .checkpoint_hook import NonFiniteWeightsError, SafeCheckpointHook
from .ema_hook import DualEMAHook
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .num_class_check_hook import NumClassCheckHook
from .random_state_hook import RandomStateHook
from .stop_after_epoch_hook import StopAfterEpochHook
from .schedule_check_hook import ScheduleCheckHook, ScheduleMismatchError
from .work_dir_lock_hook import WorkDirLockHook

__all__ = ['SafeCheckpointHook', 'DualEMAHook', 'FiniteLossHook',
           'NonFiniteLossError', 'NonFiniteWeightsError', 'NumClassCheckHook',
           'RandomStateHook', 'ScheduleCheckHook', 'ScheduleMismatchError',
           'WorkDirLockHook', 'StopAfterEpochHook']
