"""Every private mmengine name mlic relies on, in one place.

mlic builds on mmengine's Runner, hooks and loops; a few things it needs
are not public API. They are reached only through this module, and
:func:`check_upstream` (run when :mod:`mlic.engine` is imported, and by the
tests in ``tests/test_engine/test_upstream.py``, which also check the
*behaviour* relied on) fails loudly, naming the name and the installed
mmengine version, if an mmengine upgrade renames or removes one - instead
of a run silently falling back to mmengine's behaviour.

What and why:

* ``mmengine.runner.loops._parse_losses``: the validation loss summary
  that ``ValLoop`` logs; :class:`mlic.engine.DualValLoop` logs the same.
* ``mmengine.runner.loops._update_losses``: how ``ValLoop`` / ``TestLoop``
  take a loss out of a step's outputs; mlic's loops (which run the step on
  a BatchNorm-folded copy) do the same.
* ``mmengine.optim.scheduler.param_scheduler._ParamScheduler``: the base
  class of all parameter schedulers, to allow-list their pickled state
  (:mod:`mlic.engine.checkpoint_allowlist`).
* ``EMAHook._swap_ema_parameters``: exchanges raw and averaged weights
  (:class:`mlic.engine.DualEMAHook` validates both).
* ``CheckpointHook._save_best_checkpoint`` and
  ``CheckpointHook._save_checkpoint_with_step``: overridden by mlic's
  ``CheckpointHook`` (best replaced only after the new one is written;
  ``last_checkpoint`` atomic and relative).
* ``Runner._resume``, ``Runner._load_from``, ``Runner._has_loaded``: read
  and set by :class:`mlic.engine.MLICRunner` (auto-resume from a relative
  ``last_checkpoint``; a load done by mlic's own ``load_checkpoint``).
* ``Runner._train_loop`` / ``_val_loop`` / ``_test_loop``: which loops a
  run has built (the public properties build a loop when read, which would
  build a dataset a test run does not have on disk); read by the class-list
  checks of :class:`mlic.engine.hooks.NumClassCheckHook`.
* the order of hook calls in ``ValLoop.run`` (before_val,
  before_val_epoch, per-iteration hooks, after_val_epoch, after_val), which
  ``DualValLoop.run`` repeats around its two evaluations.
"""
import mmengine
from mmengine.hooks import CheckpointHook, EMAHook
from mmengine.optim.scheduler import param_scheduler as _param_scheduler
from mmengine.runner import Runner
from mmengine.runner import loops as _loops


class UpstreamChanged(ImportError):
    """The installed mmengine lacks a private name mlic relies on."""


# (owner, attribute) pairs; owner is a module or a class.
PRIVATE_NAMES = (
    (_loops, '_parse_losses'),
    (_loops, '_update_losses'),
    (_param_scheduler, '_ParamScheduler'),
    (EMAHook, '_swap_ema_parameters'),
    (CheckpointHook, '_save_best_checkpoint'),
    (CheckpointHook, '_save_checkpoint_with_step'),
)
# attributes a Runner instance sets in __init__ (checked on instances)
RUNNER_ATTRIBUTES = ('_resume', '_load_from', '_has_loaded', '_train_loop',
                     '_val_loop', '_test_loop')


def check_upstream() -> None:
    """Raise :class:`UpstreamChanged` if any private name is missing."""
    missing = [f'{getattr(o, "__name__", o)}.{n}' for o, n in PRIVATE_NAMES
               if not hasattr(o, n)]
    if missing:
        raise UpstreamChanged(
            f'mlic relies on mmengine internals that mmengine '
            f'{mmengine.__version__} does not have: {", ".join(missing)}. '
            'Install the mmengine version of requirements/runtime.txt, or '
            'update mlic/engine/upstream.py.')


def check_runner_attributes(runner: Runner) -> None:
    missing = [a for a in RUNNER_ATTRIBUTES if not hasattr(runner, a)]
    if missing:
        raise UpstreamChanged(
            f'mmengine {mmengine.__version__}: Runner instances have no '
            f'{missing}; mlic/engine/upstream.py needs an update.')


def parse_losses(losses: dict, prefix: str) -> dict:
    """The ``<prefix>/loss...`` summary ``ValLoop`` logs."""
    return _loops._parse_losses(losses, prefix)


def update_losses(outputs, losses: dict):
    """``(outputs without a loss element, losses updated)``, as
    ``ValLoop.run_iter`` and ``TestLoop.run_iter`` keep them."""
    return _loops._update_losses(outputs, losses)


def param_scheduler_base() -> type:
    return _param_scheduler._ParamScheduler


def swap_ema_parameters(hook: EMAHook) -> None:
    hook._swap_ema_parameters()


def runner_resume_state(runner: Runner):
    """(resume requested, checkpoint to load or None)."""
    return runner._resume, runner._load_from


def set_runner_load_from(runner: Runner, path) -> None:
    runner._load_from = path


def mark_runner_loaded(runner: Runner) -> None:
    runner._has_loaded = True


def built_loop(runner: Runner, stage: str):
    """The ``stage`` ('train', 'val', 'test') loop of ``runner`` if it is
    built, else None; never builds one."""
    from mmengine.runner import BaseLoop
    loop = getattr(runner, f'_{stage}_loop', None)
    return loop if isinstance(loop, BaseLoop) else None


def runner_is_resuming(runner) -> bool:
    """True while a Runner resumes (hooks see it in after_load_checkpoint)."""
    return bool(getattr(runner, '_resume', False))


check_upstream()
