"""Components the tool tests load through custom_imports."""
import time

from mmengine.hooks import Hook

from mlic.registry import HOOKS


@HOOKS.register_module()
class SlowDownHook(Hook):
    """Sleep after each iteration from a given epoch on (gives a test time
    to kill a run between two checkpoints)."""

    def __init__(self, seconds=0.5, from_epoch=1):
        self.seconds = seconds
        self.from_epoch = from_epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.epoch >= self.from_epoch:
            time.sleep(self.seconds)
