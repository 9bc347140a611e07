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

    Removes :data:`TRAINING_ONLY_KEYS` and the custom hooks that only act
    during training (EMA averaging, early stopping; subclasses included), so
    that a checkpoint can be evaluated with only the evaluation split on
    disk. Returns the names of the dropped hooks.
    """
    from mlic.registry import HOOKS
    for key in TRAINING_ONLY_KEYS:
        cfg[key] = None
    training_only = _training_only_hook_classes()
    kept, dropped = [], []
    for hook in cfg.get('custom_hooks', None) or []:
        hook_type = hook.get('type') if isinstance(hook, dict) else hook
        cls = HOOKS.get(hook_type) if isinstance(hook_type, str) else hook_type
        if isinstance(cls, type) and issubclass(cls, training_only):
            dropped.append(cls.__name__)
        else:
            kept.append(hook)
    cfg.custom_hooks = kept
    if dropped:
        logger_print('Evaluation only: not building the training-only hooks '
                     + ', '.join(dropped))
    return dropped


def prepare_run(cfg, launcher='none', mode='train'):
    """Everything train.py and test.py do to a config before the Runner.

    Checks top-level keys, makes ``num_workers=0`` loaders valid, records the
    launcher, adapts DDP/AMP to the hardware and, on a CPU-only machine,
    initialises the gloo process group that mmengine would fail to create.
    Stops when the data preprocessor does not normalise inputs as the
    backbone's pretrained weights expect. ``mode='test'`` also drops everything only training needs
    (:func:`strip_training`).
    """
    from .compat import adapt_cfg_for_device, init_cpu_distributed
    from .config_check import (check_config_keys, check_num_classes,
                               normalise_dataloaders)
    if mode not in ('train', 'test'):
        raise ValueError(f"prepare_run: mode={mode!r}, expected 'train' or "
                         "'test'")
    check_config_keys(cfg)
    check_num_classes(cfg)
    from mlic.models.utils.input_norm import check_input_normalisation
    check_input_normalisation(cfg)
    if mode == 'test':
        register_all_modules(init_default_scope=False)
        strip_training(cfg)
    normalise_dataloaders(cfg)
    cfg.launcher = launcher
    adapt_cfg_for_device(cfg)
    init_cpu_distributed(launcher)
    return cfg
