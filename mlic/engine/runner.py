"""mlic's Runner: mmengine's, with four methods that no hook can replace.

Everything else mlic adds to a run is a hook named in
``configs/_base_/default_runtime.py`` (checkpoint safety and the work-dir
lock in :class:`~mlic.engine.hooks.WorkDirLockHook`, random states in
:class:`~mlic.engine.hooks.RandomStateHook`, the class list, the schedule
on resume, finite losses), a registered component named in the configs
(:class:`~mlic.datasets.sample_seeding.SeededSampler`), or a decision of
the run set-up (:mod:`mlic.engine.run_setup`: the machine's optimizer
wrapper, evaluation precision, the CPU DDP wrapper, ``--resume``).

:func:`build_runner` is what the tools call.
"""
import itertools
import logging
import os.path as osp

import torch
from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mlic.datasets.sample_seeding import SeededDataset, uses_seeded_sampler
from mlic.fileio import atomic_output
from mlic.registry import DATASETS, MODEL_WRAPPERS, RUNNERS
from mlic.upstream.private import (check_runner_attributes, mark_runner_loaded,
                           runner_resume_state)
from mlic.utils.child_processes import tie_workers_to_parent
from .checkpoint import (DDP_PREFIX, check_state_dict_fits,
                         describe_mismatch, read_checkpoint,
                         state_dict_mismatch)
from .checkpoint import revise_keys as rename_keys  # the argument's name

PARTIAL_LOAD_HINT = ('--partial-load (tools/train.py, tools/test.py) or '
                     'partial_load = True in the config')


@RUNNERS.register_module()
class TablesToDebug(logging.Filter):
    """Demote mmengine's start-of-run tables (the system environment, the
    whole config, the hook order) from INFO to DEBUG, so that a log starts
    with the run's summary; ``log_level='DEBUG'`` shows them again, and the
    config is in the work dir anyway (mmengine dumps it there)."""

    MARKS = ('System environment:', 'Config:', 'Hooks will be executed')

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            head = str(record.msg)[:120]
            if any(mark in head for mark in self.MARKS):
                record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        return True


class MLICRunner(Runner):
    """mmengine's ``Runner`` with the five changes below."""

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """mmengine's logger, its start-of-run tables at DEBUG
        (:class:`TablesToDebug`): the log opens with the run's summary."""
        logger = super().build_logger(log_level=log_level,
                                      log_file=log_file, **kwargs)
        if not any(isinstance(f, TablesToDebug) for f in logger.filters):
            logger.addFilter(TablesToDebug())
        return logger

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """mmengine's loader, and two things only its construction can do
        (loaders are built before any hook runs, and mmengine offers no
        hook on their construction):

        * a loader whose sampler is a ``SeededSampler`` (the training
          loaders of mlic's dataset configs) gets its dataset wrapped in
          ``SeededDataset``, which transforms each sample under the seed the
          sampler hands out with its index (:mod:`mlic.datasets.
          sample_seeding`); the built dataset is ``.seeded_dataset``;
        * worker processes end with this process (:mod:`mlic.utils.
          child_processes`), and the workers' base seed comes from a
          generator of its own, so that the model's random stream does not
          depend on how often loaders were iterated.
        """
        if isinstance(dataloader, DataLoader):
            return dataloader
        cfg = dict(dataloader)
        if cfg.get('num_workers', 0) == 0:
            cfg['persistent_workers'] = False  # torch refuses it otherwise
        if 'generator' not in cfg:
            cfg['generator'] = torch.Generator().manual_seed(
                0 if seed is None else int(seed))
        if uses_seeded_sampler(cfg):
            dataset = cfg['dataset']
            if isinstance(dataset, dict):
                dataset = DATASETS.build(dataset)
                if hasattr(dataset, 'full_init'):
                    dataset.full_init()
            if not isinstance(dataset, SeededDataset):
                dataset = SeededDataset(dataset)
            cfg['dataset'] = dataset
        return tie_workers_to_parent(Runner.build_dataloader(
            cfg, seed=seed, diff_rank_seed=diff_rank_seed))

    def wrap_model(self, model_wrapper_cfg, model):
        """mmengine's, except that a ``model_wrapper_cfg`` naming one of
        mlic's wrappers (the run set-up names ``CPUDistributedDataParallel``
        for a distributed run without GPUs) is built from mlic's registry:
        mmengine looks the type up in its own root registry only, where
        mlic's wrappers (registered two levels below it) are not found."""
        if isinstance(model_wrapper_cfg, dict) and not is_model_wrapper(
                model):
            kind = str(model_wrapper_cfg.get('type', '')).split('.')[-1]
            cls = MODEL_WRAPPERS.get(kind) if kind else None
            if cls is not None and cls.__module__.startswith('mlic.'):
                args = {k: v for k, v in model_wrapper_cfg.items()
                        if k != 'type'}
                return cls(module=model, **args)
        return super().wrap_model(model_wrapper_cfg, model)

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=DDP_PREFIX):
        """Read the file safely and check it fits before anything is
        loaded (hooks see a checkpoint only after mmengine has read it
        with its own loader and loaded it non-strictly):

        * :func:`read_checkpoint`: weights-only through mlic's allow-list,
          one clear error for an empty, truncated or refused file;
        * the weights must be exactly the model's (no missing or unexpected
          key, no other shape) - mmengine logs a mismatch and evaluates the
          wrong checkpoint; ``partial_load = True`` (``--partial-load``)
          loads what fits, on purpose; ``--resume`` is always strict;
        * ``after_load_checkpoint`` hooks run before the weights are loaded,
          so that a checkpoint of other classes or another schedule stops
          the run first.
        """
        checkpoint = read_checkpoint(filename, map_location=map_location)
        if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
            checkpoint = dict(state_dict=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        resuming = bool(runner_resume_state(self)[0])
        partial = (bool(self.cfg.get('partial_load', False))
                   and not resuming and not strict)
        if not partial:
            check_state_dict_fits(
                model, rename_keys(checkpoint['state_dict'], revise_keys),
                filename,
                how_to_skip=None if resuming else PARTIAL_LOAD_HINT)
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

    @master_only
    def save_checkpoint(self, out_dir, filename, file_client_args=None,
                        save_optimizer=True, save_param_scheduler=True,
                        meta=None, by_epoch=True, backend_args=None):
        """mmengine's, written to a hidden temporary file beside the final
        name and renamed when complete (the write happens after the last
        hook call, ``before_save_checkpoint``, so no hook can make it
        atomic): a kill leaves the old file or the new one, never a
        truncated one, and a full disk is named."""
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
    stem = osp.splitext(osp.basename(cfg.filename))[0] if cfg.filename \
        else 'mlic'
    k = next(_RUNS_IN_PROCESS)
    return stem if k == 1 else f'{stem}-run{k}'


def build_runner(cfg, notes=()):
    """The Runner a tool runs: ``runner_type`` if the config names one,
    else :class:`MLICRunner`; each run gets its own experiment name, and
    its log starts with what the run set-up decided (``notes``, returned
    by :func:`mlic.engine.prepare_run`)."""
    if not cfg.get('experiment_name', None):
        cfg.experiment_name = unique_experiment_name(cfg)
    if cfg.get('runner_type', None):
        runner = RUNNERS.build(cfg)
    else:
        runner = MLICRunner.from_cfg(cfg)
    check_runner_attributes(runner)
    # the set-up printed them already; the run's log file gets them too
    files = [h for h in runner.logger.handlers
             if isinstance(h, logging.FileHandler)]
    for note in notes:
        record = runner.logger.makeRecord(
            runner.logger.name, logging.INFO, __file__, 0,
            f'Run set-up: {note}', None, None)
        for handler in files:
            handler.handle(record)
    runner.logger.info(run_summary(cfg, runner))
    return runner


def run_summary(cfg, runner) -> str:
    """One line on what this run is: the config, the work dir, the
    schedule, the batch, the precision, where it starts from."""
    train = cfg.get('train_cfg', None) or {}
    loader = cfg.get('train_dataloader', None) or {}
    optim = cfg.get('optim_wrapper', None) or {}
    lr = (optim.get('optimizer', None) or {}).get('lr', None)
    world = runner.world_size if hasattr(runner, 'world_size') else 1
    name = osp.basename(str(getattr(cfg, 'filename', None) or 'config'))
    parts = [f'Run: {name} -> {cfg.work_dir}']
    if train.get('max_epochs'):
        parts.append(f'{train["max_epochs"]} epochs')
    if loader.get('batch_size'):
        parts.append(f'batch {loader["batch_size"]} x {world} process'
                     f'{"es" if world > 1 else ""}')
    if lr is not None:
        parts.append(f'peak lr {lr:g}')
    kind = str(optim.get('type', 'OptimWrapper'))
    parts.append('mixed precision' if 'Amp' in kind else 'float32')
    if cfg.get('resume', False):
        parts.append(f'resuming {cfg.get("load_from") or "the latest"}')
    elif cfg.get('load_from', None):
        parts.append(f'from {cfg.load_from}'
                     + (' (partial load)' if cfg.get('partial_load', False)
                        else ''))
    return ('; '.join(parts) + '. Environment, config and hook tables: '
            "log_level='DEBUG'; the config is also in the work dir.")
