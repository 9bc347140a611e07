"""A resumed run continues the schedule it was started with, or stops.

``--resume`` restores the parameter schedulers' states from the
checkpoint: their length (a one-cycle's ``total_steps``, every scheduler's
``begin`` / ``end`` in iterations), their peak and their base values. A
run resumed with another ``train_cfg.max_epochs``, batch size or learning
rate would train on at the checkpoint's old schedule - e.g. epochs 3-4 of
a 2-epoch one-cycle at its floor learning rate - while the log shows the
new settings. This hook compares the schedule the current config builds
with the checkpoint's before anything is restored, and stops with what
differs and the two ways on.
"""
import math

from mmengine.hooks import Hook

from mlic.registry import HOOKS
from mlic.upstream.private import runner_is_resuming

# What a scheduler's state holds about its progress, not its shape.
PROGRESS_KEYS = ('last_step', '_global_step', '_last_value', 'verbose',
                 '_get_value_called_within_step')


class ScheduleMismatchError(RuntimeError):
    """--resume with settings that change the learning-rate schedule."""


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9,
                                abs_tol=1e-15)
        except (TypeError, ValueError):
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _flat(schedulers):
    if isinstance(schedulers, dict):
        return [(f'{name}.{type(s).__name__}', s) for name, group in
                schedulers.items() for s in group]
    return [(type(s).__name__, s) for s in schedulers or []]


def _saved_flat(saved):
    if isinstance(saved, dict):
        return [state for group in saved.values() for state in group]
    return list(saved or [])


def schedule_differences(current, saved) -> list:
    """``[(scheduler, key, checkpoint value, current value)]`` for the
    shape of the schedule (not its progress)."""
    now = _flat(current)
    then = _saved_flat(saved)
    if len(now) != len(then):
        return [('param_scheduler', 'number of schedulers', len(then),
                 len(now))]
    diffs = []
    for (name, scheduler), old in zip(now, then):
        new = scheduler.state_dict()
        for key in sorted(set(new) | set(old)):
            if key in PROGRESS_KEYS:
                continue
            if not _same(old.get(key), new.get(key)):
                diffs.append((name, key, old.get(key), new.get(key)))
    return diffs


@HOOKS.register_module()
class ScheduleCheckHook(Hook):
    """On ``--resume``: stop if the config's learning-rate schedule is not
    the checkpoint's (module docstring). In ``default_hooks`` of every
    config (``default_hooks.schedule_check=None`` switches it off)."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        if not runner_is_resuming(runner) or not isinstance(checkpoint,
                                                            dict):
            return
        saved = checkpoint.get('param_schedulers')
        current = getattr(runner, 'param_schedulers', None)
        if saved is None or not current or isinstance(current, dict) and \
                not all(isinstance(v, list) for v in current.values()):
            return
        if isinstance(current, list) and current and isinstance(
                current[0], dict):
            return  # not built (no training)
        diffs = schedule_differences(current, saved)
        if not diffs:
            return

        def show(v):
            text = repr(v)
            return text if len(text) <= 60 else text[:57] + '...'

        listed = '; '.join(f'{name}.{key}: checkpoint {show(old)}, now '
                           f'{show(new)}' for name, key, old, new in
                           diffs[:4])
        more = f' (and {len(diffs) - 4} more)' if len(diffs) > 4 else ''
        raise ScheduleMismatchError(
            'cannot resume: this run\'s learning-rate schedule is not the '
            f'one the checkpoint was trained with ({listed}{more}). A '
            'resumed run continues the checkpoint\'s schedule, so the '
            'changed settings (train_cfg.max_epochs, the batch size or '
            'number of processes, the lr) would be ignored without a word. '
            'Either resume with the settings of the first run, or start a '
            'new run from its weights with a schedule of its own: '
            'tools/train.py CONFIG --cfg-options load_from=CHECKPOINT '
            '(no --resume; the optimizer state starts afresh).')
