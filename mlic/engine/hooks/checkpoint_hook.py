"""mmengine's CheckpointHook, made safe against kills and typos.

Registered under its own name, ``SafeCheckpointHook`` (mlic's configs name
it in ``default_hooks.checkpoint``; a config that names mmengine's
``CheckpointHook`` there gets this one, said in the run's log, by
:func:`mlic.engine.prepare_run`). Differences from mmengine's:

* a model holding NaN or inf is never saved (:class:`NonFiniteWeightsError`
  names the last good checkpoint);
* the previous best checkpoint is removed only after the new best is
  completely written (mmengine removes it first: a kill in between leaves
  no valid best);
* ``last_checkpoint`` is rewritten atomically and relative to the work dir,
  so a moved work dir still resumes;
* an argument the hook does not take (``max_keep_ckpt=1``) is an error when
  the hook is built, not at the first save after a whole epoch.

Writing each checkpoint file atomically happens where the file is written,
in :meth:`mlic.engine.MLICRunner.save_checkpoint`.
"""
import difflib
import inspect
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook

from mlic.registry import HOOKS
from ..checkpoint import (CheckpointError, find_latest_checkpoint,
                          non_finite_tensors, write_last_checkpoint)


class NonFiniteWeightsError(RuntimeError):
    """The model holds NaN or inf: such a checkpoint is never written."""


# the weights a checkpoint may hold (DualEMAHook adds the last two)
WEIGHT_ENTRIES = ('state_dict', 'raw_state_dict', 'ema_state_dict')

_OWN_ARGS = [
    name for name in inspect.signature(
        MMEngineCheckpointHook.__init__).parameters
    if name not in ('self', 'kwargs')
]


@HOOKS.register_module()
class SafeCheckpointHook(MMEngineCheckpointHook):
    """See the module docstring; arguments are mmengine's ``CheckpointHook``
    arguments, and only those."""

    def __init__(self, *args, **kwargs):
        unknown = [k for k in kwargs if k not in _OWN_ARGS]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, _OWN_ARGS, n=1)
                hints.append(f'{key!r}' + (f' (did you mean {close[0]!r}?)'
                                           if close else ''))
            raise TypeError(
                f'CheckpointHook got unknown argument(s) {", ".join(hints)}; '
                f'it takes {", ".join(_OWN_ARGS)} '
                '(default_hooks.checkpoint in the config).')
        super().__init__(*args, **kwargs)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = []
        for entry in WEIGHT_ENTRIES:
            weights = checkpoint.get(entry)
            if isinstance(weights, dict):
                bad += [f'{entry}.{k}' if entry != 'state_dict' else k
                        for k in non_finite_tensors(weights)]
        if not bad:
            return
        latest = None
        try:
            latest = find_latest_checkpoint(runner.work_dir)
        except CheckpointError:
            pass
        raise NonFiniteWeightsError(
            f'not saving a checkpoint at epoch {runner.epoch + 1}: {len(bad)} '
            f'weight tensors hold NaN or inf (first: {", ".join(bad[:5])}); '
            f'training diverged. The last good checkpoint is '
            f'{latest or "none"}. Lower the learning rate, or enable '
            'gradient clipping (optim_wrapper.clip_grad.max_norm).')

    def _save_checkpoint_with_step(self, runner, step, meta):
        super()._save_checkpoint_with_step(runner, step, meta)
        if is_main_process() and self.last_ckpt is not None:
            write_last_checkpoint(runner.work_dir, str(self.last_ckpt))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # Hide the previous best paths from mmengine (which would delete
        # them before writing); delete them once the new best exists.
        single = getattr(self, 'best_ckpt_path', None)
        multi = dict(getattr(self, 'best_ckpt_path_dict', None) or {})
        self.best_ckpt_path = None
        if getattr(self, 'best_ckpt_path_dict', None) is not None:
            self.best_ckpt_path_dict = {k: None for k in multi}
        try:
            super()._save_best_checkpoint(runner, metrics)
        except BaseException:
            if self.best_ckpt_path is None:
                self.best_ckpt_path = single
            for key, old in multi.items():
                if self.best_ckpt_path_dict.get(key) is None:
                    self.best_ckpt_path_dict[key] = old
            raise
        if self.best_ckpt_path is None:
            self.best_ckpt_path = single
        else:
            self._remove_old_best(runner, single, self.best_ckpt_path)
        for key, old in multi.items():
            new = self.best_ckpt_path_dict.get(key)
            if new is None:
                self.best_ckpt_path_dict[key] = old
            else:
                self._remove_old_best(runner, old, new)

    def _remove_old_best(self, runner, old, new):
        if not old or not is_main_process() or str(old) == str(new):
            return
        # a work dir moved since the old best was recorded
        candidates = [str(old), osp.join(str(self.out_dir),
                                         osp.basename(str(old)))]
        for path in candidates:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
                runner.logger.info(
                    f'The previous best checkpoint {path} is removed')
                return
