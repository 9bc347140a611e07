"""mlic's Runner: mmengine's, with loading and saving that lose nothing.

What it changes (each a defect of the plain Runner on a real run):

* **Loading** (``load_from``, ``tools/test.py``, ``--resume``): the
  checkpoint is read safely with one clear error for an empty, truncated or
  refused file, and its weights must fit the model (no missing or
  unexpected key, no other shape) - the plain Runner loads non-strictly and
  only logs what did not fit, so the wrong checkpoint evaluates silently.
  ``partial_load = True`` (``--partial-load``) loads what fits, on purpose;
  ``--resume`` is always strict.
* **Saving**: every checkpoint goes to a hidden temporary file that is
  renamed into place when complete; a model holding NaN/inf is never saved;
  the random-number states of the main process are saved with it and
  restored on ``--resume``.
* **Auto resume** reads ``last_checkpoint`` relative to the work dir.
* **Data**: a training loader transforms each sample under its own seed
  (:mod:`mlic.datasets.sample_seeding`), so a resumed run sees the same
  augmentations as the uninterrupted one whatever the worker settings. Its
  ``dataset`` is then a ``SeededDataset`` (attributes pass through; the
  built dataset is ``.seeded_dataset``); evaluation loaders are unchanged.
* A :class:`~mlic.engine.hooks.FiniteLossHook` is registered unless the
  config switches it off (``default_hooks.finite_loss=None``);
  ``default_hooks.<name>=None`` switches any default hook off.
* ``optim_wrapper.type=OptimWrapper`` on an AMP config trains in float32
  (the AMP-only keys are dropped, logged: :func:`float32_optim_wrapper_cfg`;
  both rules in one place: :func:`machine_optim_wrapper_cfg`).
* **CPU-only machines**: DDP with :class:`CPUDistributedDataParallel`, and
  an fp16 ``AmpOptimWrapper`` becomes bfloat16 autocast
  (:mod:`mlic.engine.cpu`).

:func:`build_runner` is what the tools call.
"""
import copy
import itertools
import random

import numpy as np
import torch
from mmengine.dist import get_rank, master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mlic.registry import DATASETS, RUNNERS
from .cpu import cpu_optim_wrapper_cfg, wrap_model_for_cpu
from .eval_amp import cpu_eval_loop_cfg
from mlic.upstream import (check_runner_attributes, mark_runner_loaded,
                       runner_resume_state, set_runner_load_from)
from mlic.fileio import atomic_output, remove_stale_temporaries
from mlic.utils.child_processes import tie_workers_to_parent
from .checkpoint import (DDP_PREFIX, CheckpointError, check_state_dict_fits,
                         describe_mismatch, find_latest_checkpoint,
                         non_finite_tensors, read_checkpoint,
                         state_dict_mismatch)
from .work_dir_lock import WorkDirLock
from .checkpoint import revise_keys as rename_keys  # the argument's name

_MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                           'param_scheduler', 'checkpoint')
PARTIAL_LOAD_HINT = ('--partial-load (tools/train.py, tools/test.py) or '
                     'partial_load = True in the config')


class NonFiniteWeightsError(RuntimeError):
    """The model holds NaN or inf: such a checkpoint is never written."""


def capture_rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and \
            len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


@RUNNERS.register_module()
class MLICRunner(Runner):
    """mmengine's ``Runner`` with the changes in the module docstring."""

    _mlic_resuming = False
    _mlic_rng_state = None

    # -- data -----------------------------------------------------------
    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        from torch.utils.data import DataLoader

        from mlic.datasets.sample_seeding import (SeededDataset,
                                                  seed_dataloader)
        if isinstance(dataloader, DataLoader):
            return dataloader
        cfg = copy.deepcopy(dataloader)
        # Each new iterator (every epoch without persistent workers) draws
        # its workers' base seed; from its own generator, so that the
        # model's random stream (dropout) does not depend on how often
        # loaders were iterated - a resumed run iterates them less.
        if cfg.get('num_workers', 0) == 0:
            cfg['persistent_workers'] = False  # torch refuses it otherwise
        if 'generator' not in cfg:
            cfg['generator'] = torch.Generator().manual_seed(
                0 if seed is None else int(seed))
        dataset = cfg['dataset']
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
        if getattr(dataset, 'test_mode', False):
            # evaluation: nothing random to seed, the dataset stays as built
            cfg['dataset'] = dataset
            return tie_workers_to_parent(Runner.build_dataloader(
                cfg, seed=seed, diff_rank_seed=diff_rank_seed))
        if not isinstance(dataset, SeededDataset):
            dataset = SeededDataset(dataset)
        cfg['dataset'] = dataset
        loader = Runner.build_dataloader(cfg, seed=seed,
                                         diff_rank_seed=diff_rank_seed)
        base = 0 if seed is None else seed
        if diff_rank_seed:
            base = base + get_rank()
        return tie_workers_to_parent(seed_dataloader(loader, base))

    # -- CPU-only machines ---------------------------------------------
    def wrap_model(self, model_wrapper_cfg, model):
        if self.distributed:
            cfg = model_wrapper_cfg if model_wrapper_cfg is not None else \
                dict(find_unused_parameters=self.cfg.get(
                    'find_unused_parameters', False))
            wrapped = wrap_model_for_cpu(cfg, model)
            if wrapped is not None:
                return wrapped
        return super().wrap_model(model_wrapper_cfg, model)

    def build_val_loop(self, loop):
        return super().build_val_loop(cpu_eval_loop_cfg(loop,
                                                        self.logger.info))

    def build_test_loop(self, loop):
        return super().build_test_loop(cpu_eval_loop_cfg(loop,
                                                         self.logger.info))

    def build_optim_wrapper(self, optim_wrapper):
        return super().build_optim_wrapper(
            machine_optim_wrapper_cfg(optim_wrapper, self.logger.info))

    # -- hooks ----------------------------------------------------------
    def register_default_hooks(self, hooks=None):
        # ``default_hooks.<name>=None`` switches any default hook off (mmengine
        # accepts None only for its own six names).
        if hooks is not None:
            hooks = {k: v for k, v in hooks.items()
                     if v is not None or k in _MMENGINE_DEFAULT_HOOKS}
        super().register_default_hooks(hooks)

    def register_hooks(self, default_hooks=None, custom_hooks=None):
        check_runner_attributes(self)
        super().register_hooks(default_hooks, custom_hooks)
        from .hooks.finite_loss_hook import FiniteLossHook
        switched_off = 'finite_loss' in (default_hooks or {}) and \
            (default_hooks or {})['finite_loss'] is None
        if not switched_off and not any(
                isinstance(h, FiniteLossHook) for h in self.hooks):
            self.register_hook(FiniteLossHook())

    # -- loading --------------------------------------------------------
    def _bare_model(self):
        return self.model.module if is_model_wrapper(self.model) \
            else self.model

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=DDP_PREFIX):
        checkpoint = read_checkpoint(filename, map_location=map_location)
        if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
            checkpoint = dict(state_dict=checkpoint)
        model = self._bare_model()
        partial = (bool(self.cfg.get('partial_load', False))
                   and not self._mlic_resuming and not strict)
        if not partial:
            check_state_dict_fits(
                model, rename_keys(checkpoint['state_dict'], revise_keys),
                filename,
                how_to_skip=None if self._mlic_resuming else PARTIAL_LOAD_HINT)
        if self._mlic_resuming:
            self._mlic_rng_state = checkpoint.get('meta', {}).get(
                'rng_state', None)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        state_dict = rename_keys(checkpoint['state_dict'], revise_keys)
        if partial:
            diff = state_dict_mismatch(model, state_dict)
            bad = {k for k, _, _ in diff['shape']}
            state_dict = {k: v for k, v in state_dict.items() if k not in bad}
            if any(diff.values()):
                self.logger.warning(
                    f'partial_load: {filename} loaded where it fits; '
                    f'{describe_mismatch(diff)}')
        model.load_state_dict(state_dict, strict=not partial)
        mark_runner_loaded(self)
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self, filename, resume_optimizer=True,
               resume_param_scheduler=True, map_location='default'):
        self._mlic_resuming = True
        try:
            return super().resume(filename, resume_optimizer,
                                  resume_param_scheduler, map_location)
        finally:
            self._mlic_resuming = False

    def load_or_resume(self):
        resume, load_from = runner_resume_state(self)
        if resume and load_from is None:
            latest = find_latest_checkpoint(self.work_dir)
            if latest is None:
                self.logger.info(
                    f'--resume: no last_checkpoint in {self.work_dir}; '
                    'training from the start.')
            set_runner_load_from(self, latest)
        super().load_or_resume()
        if self._mlic_rng_state is not None:
            restore_rng_state(self._mlic_rng_state)
            self._mlic_rng_state = None

    def train(self):
        lock = WorkDirLock(self.work_dir) if get_rank() == 0 else None
        if lock is not None:
            lock.acquire()  # refuses a work dir another live run trains in
        try:
            if lock is not None:
                removed = remove_stale_temporaries(self.work_dir)
                if removed:
                    self.logger.info('Removed incomplete files of an earlier '
                                     f'run that is gone: {removed}')
            return super().train()
        finally:
            if lock is not None:
                lock.release()

    # -- saving ---------------------------------------------------------
    @master_only
    def save_checkpoint(self, out_dir, filename, file_client_args=None,
                        save_optimizer=True, save_param_scheduler=True,
                        meta=None, by_epoch=True, backend_args=None):
        import os.path as osp
        bad = non_finite_tensors(self._bare_model().state_dict())
        if bad:
            latest = None
            try:
                latest = find_latest_checkpoint(self.work_dir)
            except CheckpointError:
                pass
            raise NonFiniteWeightsError(
                f'not saving {filename}: {len(bad)} weight tensors hold NaN '
                f'or inf (first: {", ".join(bad[:5])}); training diverged. '
                f'The last good checkpoint is {latest or "none"}. Lower the '
                'learning rate, or enable gradient clipping '
                '(optim_wrapper.clip_grad.max_norm).')
        meta = dict(meta or {})
        meta['rng_state'] = capture_rng_state()
        local = (file_client_args is None and backend_args is None
                 and '://' not in str(out_dir))
        if not local:
            return super().save_checkpoint(
                out_dir, filename, file_client_args, save_optimizer,
                save_param_scheduler, meta, by_epoch, backend_args)
        with atomic_output(osp.join(out_dir, filename)) as tmp_path:
            super().save_checkpoint(
                out_dir, osp.basename(tmp_path), None, save_optimizer,
                save_param_scheduler, meta, by_epoch, None)


_RUNS_IN_PROCESS = itertools.count(1)


def unique_experiment_name(cfg) -> str:
    """The config's name, with ``-run<k>`` from the second run built in this
    process on (mmengine appends the timestamp).

    mmengine names the message hub, logger and visualizer of a run after
    ``<experiment name>_<timestamp to the second>``: two runs started in one
    second in one process (a notebook, a test) would share one message hub
    and mix their logs and scalars.
    """
    import os.path as osp
    stem = osp.splitext(osp.basename(cfg.filename))[0] if cfg.filename \
        else 'mlic'
    k = next(_RUNS_IN_PROCESS)
    return stem if k == 1 else f'{stem}-run{k}'


AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def float32_optim_wrapper_cfg(optim, logger_print=print):
    """An optimizer wrapper config switched to the plain ``OptimWrapper``
    (``--cfg-options optim_wrapper.type=OptimWrapper`` on an AMP config)
    without the keys only ``AmpOptimWrapper`` takes, which ``OptimWrapper``
    would refuse with a TypeError; the keys dropped are named in the log.
    Any other config comes back unchanged."""
    if not isinstance(optim, dict) or optim.get('type') != 'OptimWrapper':
        return optim
    extra = [k for k in AMP_ONLY_KEYS if k in optim]
    if not extra:
        return optim
    dropped = ', '.join(f'{k}={optim[k]!r}' for k in extra)
    logger_print(f'optim_wrapper.type=OptimWrapper trains in float32: '
                 f'the AMP-only setting(s) {dropped} do not apply and are '
                 'dropped.')
    return {k: v for k, v in optim.items() if k not in extra}


def machine_optim_wrapper_cfg(optim, logger_print=print):
    """The optimizer wrapper config as this machine builds it (the Runner
    and the benchmark): the CPU-only rule (:func:`cpu_optim_wrapper_cfg`)
    first, since its float32 fallback is a plain ``OptimWrapper`` too, then
    :func:`float32_optim_wrapper_cfg`. Non-dict configs (a built wrapper)
    come back unchanged."""
    optim = cpu_optim_wrapper_cfg(optim, logger_print)
    return float32_optim_wrapper_cfg(optim, logger_print)


def build_runner(cfg):
    """The Runner a tool runs: ``runner_type`` if the config names one,
    else :class:`MLICRunner`; each run gets its own experiment name."""
    if not cfg.get('experiment_name', None):
        cfg.experiment_name = unique_experiment_name(cfg)
    if cfg.get('runner_type', None):
        return RUNNERS.build(cfg)
    return MLICRunner.from_cfg(cfg)
