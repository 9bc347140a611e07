"""Registering mlic's modules and setting its default scope."""
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mlic (and mmpretrain) module so that all registries fill.

    Args:
        init_default_scope (bool): also make ``'mlic'`` the global default
            scope, so that configs resolve bare names through mlic's
            registries (which fall back to mmpretrain's and mmengine's).
    """
    import mmpretrain.utils
    mmpretrain.utils.register_all_modules(init_default_scope=False)

    import mlic.datasets  # noqa: F401
    import mlic.engine  # noqa: F401
    import mlic.evaluation  # noqa: F401
    import mlic.models  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('mlic', scope_name='mlic')
    elif current.scope_name != 'mlic':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "mlic"; register_all_modules makes it "mlic".')
        # A unique instance name: mmengine keeps every instance by name.
        import datetime
        name = f'mlic-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mlic')


# Config entries only training reads: an evaluation run drops them, so that
# the Runner builds no training dataloader (which would need the training
# split on disk), optimizer or parameter scheduler.
TRAINING_ONLY_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper',
                      'param_scheduler', 'auto_scale_lr')


def _training_only_hook_classes():
    from mmengine.hooks import EarlyStoppingHook, EMAHook
    # EMAHook (and DualEMAHook) copies the model to average it during
    # training; the checkpoint's ``state_dict`` is what an evaluation reads.
    # EarlyStoppingHook needs the training loop (it builds it in before_run).
    return (EMAHook, EarlyStoppingHook)


def strip_training(cfg, logger_print=print):
    """Make ``cfg`` an evaluation-only config (tools/test.py, dist_test.sh).

    Removes :data:`TRAINING_ONLY_KEYS` and the hooks (default or custom)
    that only act during training (EMA averaging, early stopping;
    subclasses included), so
    that a checkpoint can be evaluated with only the evaluation split on
    disk. Returns the names of the dropped hooks.
    """
    from mlic.registry import HOOKS
    for key in TRAINING_ONLY_KEYS:
        cfg[key] = None
    training_only = _training_only_hook_classes()

    def is_training_only(hook):
        hook_type = hook.get('type') if isinstance(hook, dict) else hook
        cls = HOOKS.get(hook_type) if isinstance(hook_type, str) \
            else hook_type
        if not isinstance(cls, type):
            cls = type(hook)
        return issubclass(cls, training_only), cls.__name__

    kept, dropped = [], []
    for hook in cfg.get('custom_hooks', None) or []:
        only, name = is_training_only(hook)
        if only:
            dropped.append(name)
        else:
            kept.append(hook)
    cfg.custom_hooks = kept
    for key, hook in list((cfg.get('default_hooks', None) or {}).items()):
        if hook is None:
            continue
        only, name = is_training_only(hook)
        if only:
            cfg.default_hooks[key] = None  # MLICRunner leaves it out
            dropped.append(name)
    if dropped:
        logger_print('Evaluation only: not building the training-only hooks '
                     + ', '.join(dropped))
    return dropped


def prepare_run(cfg, launcher='none', mode='train'):
    """The run set-up of train.py and test.py, before the Runner is built.

    Each step is an explicit, idempotent call:

    * registers mlic's modules and makes ``'mlic'`` the default scope;
    * allow-lists mmengine's checkpoint globals for weights-only loading
      (:func:`mlic.engine.allow_mmengine_checkpoints`);
    * checks the config: near-miss top-level keys, head vs data
      preprocessor ``num_classes``, the input normalisation against the
      backbone's pretrained weights;
    * ``mode='test'``: drops everything only training needs
      (:func:`strip_training`);
    * records the launcher and, on a CPU-only machine, creates the gloo
      process group mmengine cannot (:func:`mlic.engine.init_cpu_distributed`).
    """
    if mode not in ('train', 'test'):
        raise ValueError(f"prepare_run: mode={mode!r}, expected 'train' or "
                         "'test'")
    register_all_modules()
    from mlic.engine import allow_mmengine_checkpoints, init_cpu_distributed
    from mlic.models.pretrained import check_input_normalisation
    from .config_check import (check_config_keys, check_num_classes,
                               check_sizes_and_schedule)
    allow_mmengine_checkpoints()
    check_config_keys(cfg)
    check_num_classes(cfg)
    check_sizes_and_schedule(cfg)
    check_input_normalisation(cfg)
    if mode == 'test':
        strip_training(cfg)
    cfg.launcher = launcher
    init_cpu_distributed(launcher)
    return cfg
