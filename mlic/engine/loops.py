"""Evaluation loops: validation of the raw and the EMA model in one epoch,
and testing, both on a BatchNorm-folded copy of the model.

Both loops run each evaluation pass on the copy that
:func:`mlic.models.batchnorm_folding.fold_batchnorm` makes from the
weights of that moment (``fold_bn=True``, the default): the same values up
to rounding, fewer passes over the feature maps. The copy is made on the
pass's first batch, checked against the model on its first image, and
dropped at the end of the pass, so hooks (checkpointing, the EMA swap) see
the real model only. ``fold_bn=False`` evaluates the model as it is.
"""
from mmengine.runner import TestLoop, ValLoop, autocast

from mlic.models import batchnorm_folding
from mlic.registry import LOOPS
from .hooks.ema_hook import find_dual_ema_hook
from .policy import FOLD_BN_DEFAULT
from mlic.upstream.private import parse_losses, update_losses


class FoldedEvaluation:
    """What :class:`DualValLoop` and :class:`FoldedTestLoop` share: one
    evaluation iteration on the pass's folded copy (mmengine's
    ``run_iter`` with the step run on that copy)."""
    fold_bn = FOLD_BN_DEFAULT
    _eval_model = None

    def _evaluation_model(self, data_batch):
        model = self.runner.model
        if not self.fold_bn:
            return model
        return batchnorm_folding.fold_batchnorm_for_batch(
            model, data_batch, self.runner.logger.info)[0]

    def _eval_iter(self, stage: str, idx, data_batch):
        self.runner.call_hook(f'before_{stage}_iter', batch_idx=idx,
                              data_batch=data_batch)
        if idx == 0 or self._eval_model is None:
            self._eval_model = self._evaluation_model(data_batch)
        step = getattr(self._eval_model, f'{stage}_step')
        with autocast(enabled=self.fp16):
            outputs = step(data_batch)
        outputs, losses = update_losses(outputs,
                                        getattr(self, f'{stage}_loss'))
        setattr(self, f'{stage}_loss', losses)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(f'after_{stage}_iter', batch_idx=idx,
                              data_batch=data_batch, outputs=outputs)


@LOOPS.register_module()
class DualValLoop(FoldedEvaluation, ValLoop):
    """``ValLoop`` that also validates the EMA weights of :class:`DualEMAHook`.

    Without that hook (or before its average exists) this is mmengine's
    ``ValLoop``. With it, the loader runs twice - raw weights, then the
    average - and the reported metrics are those of the better model by
    ``select_by`` (so ``save_best``, early stopping and logs follow it),
    plus ``raw/<metric>``, ``ema/<metric>`` and ``ema_selected`` (1 or 0).

    Args:
        select_by (str): the metric that decides (higher is better).
        fold_bn (bool): evaluate a copy with BatchNorm folded into the
            convolutions (module docstring). Default True.
        Others as mmengine's ``ValLoop``.
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False,
                 select_by: str = 'mAP', fold_bn: bool = FOLD_BN_DEFAULT):
        super().__init__(runner, dataloader, evaluator, fp16)
        self.select_by = select_by
        self.fold_bn = bool(fold_bn)

    def run_iter(self, idx, data_batch):
        self._eval_iter('val', idx, data_batch)

    def _evaluate(self) -> dict:
        self.runner.model.eval()
        self.val_loss.clear()
        try:
            for idx, data_batch in enumerate(self.dataloader):
                self.run_iter(idx, data_batch)
        finally:
            self._eval_model = None  # a snapshot of this pass's weights
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


@LOOPS.register_module()
class FoldedTestLoop(FoldedEvaluation, TestLoop):
    """mmengine's ``TestLoop`` on a BatchNorm-folded copy of the model.

    Args:
        fold_bn (bool): evaluate a copy with BatchNorm folded into the
            convolutions (module docstring). Default True.
        Others as mmengine's ``TestLoop``.
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False,
                 fold_bn: bool = FOLD_BN_DEFAULT):
        super().__init__(runner, dataloader, evaluator, fp16)
        self.fold_bn = bool(fold_bn)

    def run_iter(self, idx, data_batch):
        self._eval_iter('test', idx, data_batch)

    def run(self) -> dict:
        try:
            return super().run()
        finally:
            self._eval_model = None


# The name this loop had in mlic's earlier configs, kept so that they load.
LOOPS.register_module(name='MLICTestLoop', module=FoldedTestLoop)
