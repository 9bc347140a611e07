"""Setting a run up, before the Runner is built: every decision the
config and this machine imply, made once on the config.

:func:`prepare_run` is what ``tools/train.py`` and ``tools/test.py`` call
between loading a config and :func:`mlic.engine.build_runner`. The Runner
then builds exactly what the config says; the log of the run lists what the
set-up changed and why (the notes :func:`prepare_run` returns, which
:func:`mlic.engine.build_runner` writes there).
"""
from mmengine.hooks import EarlyStoppingHook, EMAHook

from mlic.models.pretrained import check_input_normalisation
from mlic.registry import HOOKS
from mlic.utils.config_check import (check_config_keys, check_num_classes,
                                     check_known_keys,
                                     check_sizes_and_schedule,
                                     check_value_types)
from . import cpu, policy
from .checkpoint import find_latest_checkpoint
from mlic.fileio import check_output_dir
from mlic.fileio.checkpoint_allowlist import allow_mmengine_checkpoints

# Config entries only training reads: an evaluation run drops them, so that
# the Runner builds no training dataloader (which would need the training
# split on disk), optimizer or parameter scheduler.
TRAINING_ONLY_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper',
                      'param_scheduler', 'auto_scale_lr')
# mmengine's own default hooks: ``default_hooks.<name>=None`` removes one
# of these; other names set to None are left out here.
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                          'param_scheduler', 'checkpoint')


def strip_training(cfg, logger_print=print):
    """Make ``cfg`` an evaluation-only config (tools/test.py, dist_test.sh).

    Removes :data:`TRAINING_ONLY_KEYS` and the hooks (default or custom)
    that only act during training (EMA averaging, early stopping;
    subclasses included), so that a checkpoint can be evaluated with only
    the evaluation split on disk. Returns the names of the dropped hooks.
    """
    for key in TRAINING_ONLY_KEYS:
        cfg[key] = None
    # EMAHook (and DualEMAHook) copies the model to average it during
    # training; the checkpoint's ``state_dict`` is what an evaluation reads.
    # EarlyStoppingHook needs the training loop (it builds it in before_run).
    training_only = (EMAHook, EarlyStoppingHook)

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
            cfg.default_hooks[key] = None
            dropped.append(name)
    if dropped:
        logger_print('Evaluation only: not building the training-only hooks '
                     + ', '.join(dropped))
    return dropped


def _drop_switched_off_hooks(cfg):
    """``default_hooks.<name>=None`` switches any default hook off
    (mmengine accepts None only for its own six names)."""
    hooks = cfg.get('default_hooks', None)
    if not hooks:
        return
    for name in [k for k, v in hooks.items()
                 if v is None and k not in MMENGINE_DEFAULT_HOOKS]:
        hooks.pop(name)


def _resolve_hooks(cfg, mode, note):
    """mlic's checkpoint hook for mmengine's (atomic writes, the best kept
    until its successor exists, no NaN weights), and the work-dir lock of
    a training run, unless switched off on purpose."""
    hooks = cfg.get('default_hooks', None)
    if hooks is None:
        cfg.default_hooks = hooks = {}
    checkpoint = hooks.get('checkpoint', None)
    if isinstance(checkpoint, dict) and checkpoint.get('type') in (
            'CheckpointHook', 'mmengine.CheckpointHook'):
        checkpoint['type'] = 'SafeCheckpointHook'
        note('default_hooks.checkpoint: mmengine\'s CheckpointHook -> '
             'SafeCheckpointHook (the same arguments; atomic files, the best '
             'replaced only once its successor is written, no NaN weights)')
    if mode != 'train':
        return
    if 'work_dir_lock' not in hooks:
        hooks['work_dir_lock'] = dict(type='WorkDirLockHook')
        note('default_hooks.work_dir_lock: added (one training run per work '
             'dir)')
    elif hooks['work_dir_lock'] is None:
        note('default_hooks.work_dir_lock=None: the work dir is not locked; '
             'a second training there can overwrite this one\'s files')


def _resolve_resume(cfg, note):
    """``--resume`` without a checkpoint: the one ``last_checkpoint`` of the
    work dir names (relative to it: a moved work dir still resumes), else
    the newest ``epoch_N.pth``; none: train from the start, said."""
    if not cfg.get('resume', False) or cfg.get('load_from', None):
        return
    latest = find_latest_checkpoint(cfg.work_dir)
    if latest is None:
        note(f'--resume: no checkpoint in {cfg.work_dir}; training from the '
             'start.')
        cfg.resume = False
    else:
        note(f'--resume: continuing from {latest}')
        cfg.load_from = latest


def _resolve_for_machine(cfg, launcher, note):
    if cfg.get('optim_wrapper', None) is not None:
        cfg.optim_wrapper = policy.optim_wrapper_cfg(cfg.optim_wrapper, note)
    for loop in ('val_cfg', 'test_cfg'):
        if cfg.get(loop, None) is not None:
            cfg[loop] = policy.eval_loop_cfg(cfg[loop], note)
    wrapper = cfg.get('model_wrapper_cfg', None)
    if launcher != 'none' and cpu.is_cpu_only() and (
            wrapper is None or wrapper.get('type', 'MMDistributedDataParallel')
            == 'MMDistributedDataParallel'):
        cfg.model_wrapper_cfg = dict(
            dict(broadcast_buffers=False,
                 find_unused_parameters=cfg.get('find_unused_parameters',
                                                False)),
            **{k: v for k, v in (wrapper or {}).items() if k != 'type'},
            type='CPUDistributedDataParallel')


def prepare_run(cfg, launcher='none', mode='train'):
    """The run set-up of train.py and test.py, before the Runner is built
    (after :func:`mlic.utils.register_all_modules`, which the tools call).

    * allow-lists mmengine's checkpoint globals for weights-only loading;
    * checks the config: near-miss top-level keys, head vs data
      preprocessor ``num_classes``, sizes and epochs, the input
      normalisation against the backbone's pretrained weights;
    * ``mode='test'``: drops everything only training needs
      (:func:`strip_training`); ``mode='train'``: resolves ``--resume``
      to a checkpoint;
    * resolves what depends on this machine (:mod:`mlic.engine.policy`:
      the optimizer wrapper, mixed-precision evaluation; the CPU DDP
      wrapper of a distributed run without GPUs) and switched-off default
      hooks;
    * records the launcher and, on a CPU-only machine, creates the gloo
      process group mmengine cannot (:func:`cpu.init_cpu_distributed`).

    ``cfg`` is changed in place. Returns the notes: each decision that
    changed the config, in words; they are printed now, and
    ``build_runner(cfg, notes)`` writes them to the run's log.
    """
    if mode not in ('train', 'test'):
        raise ValueError(f"prepare_run: mode={mode!r}, expected 'train' or "
                         "'test'")
    # a work dir that is a file or cannot be created, named in words
    check_output_dir(cfg.work_dir, 'the work dir (--work-dir)')
    notes = []

    def note(message):  # the run's logger does not exist yet
        notes.append(message)
        print(message, flush=True)

    allow_mmengine_checkpoints()
    check_config_keys(cfg)
    check_num_classes(cfg)
    check_sizes_and_schedule(cfg)
    check_value_types(cfg)
    check_known_keys(cfg)
    check_input_normalisation(cfg)
    if mode == 'test':
        strip_training(cfg, note)
    else:
        _resolve_resume(cfg, note)
    _resolve_hooks(cfg, mode, note)
    _drop_switched_off_hooks(cfg)
    _resolve_for_machine(cfg, launcher, note)
    cfg.launcher = launcher
    cpu.init_cpu_distributed(launcher)
    return notes
