"""Stop a run planned for N epochs after epoch K (``tools/train.py
--stop-after-epoch K``): for a machine that must be given back, a
pre-emption window, a first look at a long run.

The schedule stays the one of N epochs (the learning rate at epoch K is
what the full run has there), the checkpoint of epoch K is written as
usual, and ``--resume`` continues from it exactly as from a kill at that
epoch's end: the run it finishes is the uninterrupted one, bit for bit.
"""
from mmengine.hooks import Hook

from mlic.registry import HOOKS


@HOOKS.register_module()
class StopAfterEpochHook(Hook):
    """Ask the training loop to stop once epoch ``epoch`` (1-based) ends,
    after every other hook of that epoch (checkpoint, EMA, validation)
    has run."""

    priority = 'LOWEST'

    def __init__(self, epoch: int):
        if int(epoch) < 1:
            raise ValueError(f'StopAfterEpochHook: epoch={epoch} must be '
                             '>= 1')
        self.epoch = int(epoch)
        self.stopped = False

    def after_train_epoch(self, runner) -> None:
        # runner.epoch counts the epochs finished before this one
        if runner.epoch + 1 >= self.epoch and \
                runner.epoch + 1 < runner.max_epochs:
            runner.train_loop.stop_training = True
            self.stopped = True
            runner.logger.warning(
                f'stopped after epoch {runner.epoch + 1} of '
                f'{runner.max_epochs} as asked (--stop-after-epoch); '
                'continue with the same command and --resume')
