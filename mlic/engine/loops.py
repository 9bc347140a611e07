"""Validation of the raw and the EMA model in one epoch."""
from mmengine.runner import ValLoop

from mlic.registry import LOOPS
from .hooks.ema_hook import find_dual_ema_hook
from .upstream import parse_losses


@LOOPS.register_module()
class DualValLoop(ValLoop):
    """``ValLoop`` that also validates the EMA weights of :class:`DualEMAHook`.

    Without that hook (or before its average exists) this is mmengine's
    ``ValLoop``. With it, the loader runs twice - raw weights, then the
    average - and the reported metrics are those of the better model by
    ``select_by`` (so ``save_best``, early stopping and logs follow it),
    plus ``raw/<metric>``, ``ema/<metric>`` and ``ema_selected`` (1 or 0).

    Args:
        select_by (str): the metric that decides (higher is better).
        Others as mmengine's ``ValLoop``.
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False,
                 select_by: str = 'mAP'):
        super().__init__(runner, dataloader, evaluator, fp16)
        self.select_by = select_by

    def _evaluate(self) -> dict:
        self.runner.model.eval()
        self.val_loss.clear()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if self.val_loss:
            metrics.update(parse_losses(self.val_loss, 'val'))
        return metrics

    def run(self) -> dict:
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        hook = find_dual_ema_hook(self.runner)
        raw = self._evaluate()
        if hook is None or getattr(hook, 'ema_model', None) is None:
            metrics = raw
        else:
            hook.swap_parameters()
            try:
                ema = self._evaluate()
            finally:
                hook.swap_parameters()
            hook.selected, metrics = hook.select(raw, ema, self.select_by)
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics
