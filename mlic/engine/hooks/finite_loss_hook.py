"""Stop training at the first non-finite loss."""
import math

from mmengine.hooks import Hook

from mlic.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf."""


def _value(v):
    try:
        return float(v.detach()) if hasattr(v, 'detach') else float(v)
    except (TypeError, ValueError):
        return None


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a training loss is NaN/inf.

    A diverged run otherwise goes on for the rest of the epoch, writes a
    checkpoint full of NaN and reports a meaningless mAP. The error names the
    epoch, the iteration and every loss term.

    Args:
        max_skips (int): with fp16 mixed precision (``AmpOptimWrapper``), the
            gradient scaler already skips the optimizer step of an
            overflowing iteration and lowers the loss scale; up to this many
            consecutive non-finite iterations are then logged and skipped
            instead of stopping (weights untouched). 0 (default) stops at the
            first. Without a loss scaler the step has already been applied,
            so the run always stops.
    """

    priority = 'VERY_HIGH'

    def __init__(self, max_skips: int = 0):
        if int(max_skips) != max_skips or max_skips < 0:
            raise ValueError(f'FiniteLossHook: max_skips={max_skips!r} must '
                             'be an integer >= 0')
        self.max_skips = int(max_skips)
        self.skipped = 0

    @staticmethod
    def _scaler(runner):
        optim = runner.optim_wrapper
        return getattr(optim, 'loss_scaler', None)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if not outputs or 'loss' not in outputs:
            return
        loss = _value(outputs['loss'])
        if loss is None or math.isfinite(loss):
            self.skipped = 0
            return
        terms = ', '.join(f'{k}={_value(v)}' for k, v in outputs.items()
                          if _value(v) is not None)
        where = (f'epoch {runner.epoch + 1}, iteration {runner.iter + 1} '
                 f'(batch {batch_idx + 1} of the epoch)')
        scaler = self._scaler(runner)
        if scaler is not None and self.skipped < self.max_skips:
            self.skipped += 1
            runner.logger.warning(
                f'non-finite loss at {where}: {terms}; the fp16 loss scaler '
                f'skipped this step ({self.skipped} of at most '
                f'{self.max_skips} in a row).')
            return
        raise NonFiniteLossError(
            f'non-finite loss at {where}: {terms}. Training stopped before '
            'the diverged weights were saved (the last good checkpoint is '
            'the one in last_checkpoint). Lower the learning rate, enable '
            'gradient clipping (optim_wrapper.clip_grad.max_norm), or, for '
            'rare fp16 overflows, allow skipped steps with '
            'default_hooks.finite_loss.max_skips=N.')
