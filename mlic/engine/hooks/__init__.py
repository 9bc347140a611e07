from .ema_hook import DualEMAHook
from .num_class_check_hook import NumClassCheckHook

__all__ = ['DualEMAHook', 'NumClassCheckHook']
