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
  (:mod:`mlic.fileio.checkpoint_allowlist`).
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
* ``Config._get_cfg_path``: where ``_base_`` entries are looked up;
  :func:`package_config_paths` resolves ``mlic::`` there, so that a
  user's config outside the repository inherits the installed package's
  configs (mmengine's own ``pkg::`` lookup needs ``pkg_resources``, which
  setuptools >= 82 no longer has).
* the order of hook calls in ``ValLoop.run`` (before_val,
  before_val_epoch, per-iteration hooks, after_val_epoch, after_val), which
  ``DualValLoop.run`` repeats around its two evaluations.
"""
import contextlib
import os.path as osp

import mmengine
from mmengine.config import Config
from mmengine.hooks import CheckpointHook, EMAHook
from mmengine.optim.scheduler import param_scheduler as _param_scheduler
from mmengine.runner import BaseLoop, Runner
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
    (Config, '_get_cfg_path'),
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
            'update mlic/upstream/private.py.')


def check_runner_attributes(runner: Runner) -> None:
    missing = [a for a in RUNNER_ATTRIBUTES if not hasattr(runner, a)]
    if missing:
        raise UpstreamChanged(
            f'mmengine {mmengine.__version__}: Runner instances have no '
            f'{missing}; mlic/upstream/private.py needs an update.')


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
    loop = getattr(runner, f'_{stage}_loop', None)
    return loop if isinstance(loop, BaseLoop) else None


PACKAGE_SCOPE = 'mlic::'


def package_configs_dir() -> str:
    """The configs shipped with the installed mlic: ``mlic/.mim/configs`` in
    a wheel, the repository's ``configs/`` in a source checkout (``pip
    install -e .``)."""
    here = osp.dirname(osp.dirname(osp.abspath(__file__)))  # mlic/
    for folder in (osp.join(here, '.mim', 'configs'),
                   osp.join(osp.dirname(here), 'configs')):
        if osp.isdir(folder):
            return folder
    raise FileNotFoundError(
        'the installed mlic has no configs (neither mlic/.mim/configs nor a '
        'configs/ folder beside the package); reinstall it from a source '
        'checkout or a wheel built by its setup.py')


@contextlib.contextmanager
def package_config_paths():
    """While active, ``_base_ = ['mlic::q2l_irpe/shapes_demo.py']`` resolves
    to the installed package's configs (:func:`package_configs_dir`).
    Other ``pkg::`` paths keep mmengine's lookup."""
    original = Config.__dict__['_get_cfg_path']

    def get_cfg_path(cfg_path, filename):
        if cfg_path.startswith(PACKAGE_SCOPE):
            rel = cfg_path[len(PACKAGE_SCOPE):]
            path = osp.join(package_configs_dir(), rel)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{filename}: _base_ {cfg_path!r} names no config of the '
                    f'installed mlic ({path} does not exist)')
            return path, None
        return original.__func__(cfg_path, filename)

    Config._get_cfg_path = staticmethod(get_cfg_path)
    try:
        yield
    finally:
        Config._get_cfg_path = original


def runner_is_resuming(runner) -> bool:
    """True while a Runner resumes (hooks see it in after_load_checkpoint)."""
    return bool(getattr(runner, '_resume', False))


check_upstream()
