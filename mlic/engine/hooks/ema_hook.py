"""EMA of the weights, with the raw *and* the averaged model evaluated.

Query2Label's recipe (docs/method.md section 7) keeps an exponential moving average
of the weights, evaluates both models after every epoch and keeps the better
one. mmengine's ``EMAHook`` evaluates only the average; this hook leaves the
evaluation to :class:`mlic.engine.DualValLoop` (which runs the loader once
per model) and makes every checkpoint carry:

* ``state_dict``: the weights of the model that won the latest validation
  (the average before the first one) - what ``tools/test.py``, ``load_from``
  and inference read, so ``best_mAP_*.pth`` holds the better model;
* ``raw_state_dict``: the raw weights, when ``state_dict`` holds the average;
* ``ema_state_dict``: the averaged model (mmengine's format, with ``steps``);
* ``meta['eval_weights']``: ``'ema'`` or ``'raw'``.

Resuming restores the raw weights into the model and the average into the
EMA model, whichever won.
"""
from typing import Optional

from mmengine.hooks import EMAHook

from mlic.registry import HOOKS
from mlic.upstream.private import runner_is_resuming, swap_ema_parameters


@HOOKS.register_module()
class DualEMAHook(EMAHook):
    """EMA of all weights and (float) buffers; both models validated.

    ``averaged = decay * averaged + (1 - decay) * current`` after every
    optimizer step; the first step copies the weights.

    Args:
        decay (float): EMA decay per iteration (Query2Label: 0.9997).
        update_buffers (bool): average BatchNorm running statistics too
            (otherwise they are copied from the raw model).
        ema_type (str): the averaged model; default mlic's
            ``MultiTensorEMA`` (mmengine's ``ExponentialMovingAverage``,
            the same values, one multi-tensor update per step).
        **kwargs: ``begin_iter``, ``begin_epoch``, ``strict_load`` and the
            other arguments of mmengine's ``EMAHook``.
    """

    def __init__(self, decay: float = 0.9997, update_buffers: bool = True,
                 **kwargs):
        if not 0.0 < decay < 1.0:
            raise ValueError(f'DualEMAHook: decay={decay} must be in (0, 1)')
        kwargs.setdefault('ema_type', 'MultiTensorEMA')
        super().__init__(momentum=1.0 - decay, update_buffers=update_buffers,
                         **kwargs)
        self.decay = decay
        self.selected = 'ema'

    # DualValLoop swaps the weights itself; tests evaluate ``state_dict``.
    def before_val_epoch(self, runner) -> None:
        pass

    def after_val_epoch(self, runner, metrics=None) -> None:
        pass

    def before_test_epoch(self, runner) -> None:
        pass

    def after_test_epoch(self, runner, metrics=None) -> None:
        pass

    def swap_parameters(self) -> None:
        """Exchange the raw and the averaged weights in place."""
        swap_ema_parameters(self)

    def ema_weights(self) -> dict:
        """The averaged model's weights, in the model's own key names."""
        return {
            k[len('module.'):]: v
            for k, v in self.ema_model.state_dict().items()
            if k.startswith('module.')
        }

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['ema_state_dict'] = self.ema_model.state_dict()
        checkpoint.setdefault('meta', {})['eval_weights'] = self.selected
        if self.selected == 'ema':
            raw = checkpoint['state_dict']
            ema = self.ema_weights()
            checkpoint['raw_state_dict'] = raw
            # CPU copies, like the raw state dict mmengine writes.
            checkpoint['state_dict'] = type(raw)(
                (k, ema[k].detach().cpu() if k in ema else v)
                for k, v in raw.items())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner_is_resuming(runner) and 'ema_state_dict' in checkpoint:
            if 'raw_state_dict' in checkpoint:
                # The runner loads ``state_dict`` into the model next.
                checkpoint['state_dict'] = checkpoint.pop('raw_state_dict')
            self.ema_model.load_state_dict(
                checkpoint['ema_state_dict'], strict=self.strict_load)
            self.selected = checkpoint.get('meta', {}).get(
                'eval_weights', 'ema')
            return
        # load_from / test: start the average from the loaded weights.
        super().after_load_checkpoint(runner, checkpoint)

    @staticmethod
    def select(raw: dict, ema: dict, key: str = 'mAP'):
        """(winner, metrics): the better model's metrics under plain names,
        both sets under ``raw/`` and ``ema/``; ties go to the average."""
        if key not in raw or key not in ema:
            raise KeyError(f'DualEMAHook: the validation metrics have no '
                           f'{key!r} to choose the model by; got '
                           f'{sorted(raw)}')
        winner = 'ema' if ema[key] >= raw[key] else 'raw'
        metrics = dict(ema if winner == 'ema' else raw)
        metrics['ema_selected'] = float(winner == 'ema')
        metrics.update({f'raw/{k}': v for k, v in raw.items()})
        metrics.update({f'ema/{k}': v for k, v in ema.items()})
        return winner, metrics


def find_dual_ema_hook(runner) -> Optional[DualEMAHook]:
    for hook in runner.hooks:
        if isinstance(hook, DualEMAHook):
            return hook
    return None
