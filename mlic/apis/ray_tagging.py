"""Tagging an archive on a Ray cluster: ``tools/infer.py --engine ray``.

Ray Data runs the work; mlic only says what each stage does::

    image paths ──> decode + test pipeline ──> model ──> this process
    (the driver)    CPU tasks, any node        actors    writes OUT
                    (--decode-cpus)            (--model-workers, one GPU
                                               each with --gpus-per-worker)

* Decoding runs in stateless CPU tasks; Ray schedules them on any node and
  runs one again elsewhere when its worker or node dies.
* The model runs in a pool of actors, each building the model once from
  the config and the checkpoint (mlic's safe checkpoint reader: the file
  must be readable at the same path on every node). An actor whose node
  dies is restarted where there is room, and its batch is scored again.
* The results stream back to the driver **in input order** (Ray Data's
  ``preserve_order``) and are written there by the same
  :class:`~mlic.apis.tagging.ResultWriter` as ``infer.py``'s: one
  ``OUT.partial`` appended batch by batch, renamed to ``OUT`` at the end,
  the run's identity in ``OUT.run.json``. Every image is therefore written
  once, the file is byte for byte the one ``infer.py`` writes (scores
  within float tolerance where batches differ), and ``--resume`` after a
  killed driver skips what is written, whatever the number of workers
  then and now (a changed model, threshold or class list is refused).
* Unreadable images are skipped as ``infer.py`` skips them, counted, and
  listed in ``OUT.skipped.tsv`` (path, reason).

Only the driver holds the list of paths (about 100 bytes an image); the
output is one stream (about 1 KB an image for 80 classes in JSONL, less in
Parquet or with ``only_predicted``). docs/large_scale.md says where these
limits lie and how the work scales.
"""
import hashlib
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np

from mlic.fileio import atomic_write
from mlic.utils.optional import require
from .result_files import format_line, result_format
from .tagging import open_writer, run_record_for

RAY_HINT = ('Ray Data is not installed: pip install -e ".[ray]" (or pip '
            'install "ray[data]" pyarrow)')
SKIPPED_SUFFIX = '.skipped.tsv'
# what a decoding task reserves per image of its batch (a 12-megapixel
# photo decoded is 36 MB before the test pipeline shrinks it)
DECODE_MEMORY_PER_IMAGE = 48 << 20


def require_ray():
    """``ray`` with Ray Data, or an ImportError saying what to install."""
    ray, _ = require('ray', 'ray.data', hint=RAY_HINT)
    return ray


# -- the stages (run in Ray's worker processes) ----------------------------
_PIPELINES = {}


def _pipelines_for(cfg, key: str):
    """The test pipeline of ``cfg``, built once per worker process
    (``key``: what identifies it, computed once by the driver)."""
    if key not in _PIPELINES:
        from mlic.utils import register_all_modules
        from .inferencer import test_pipelines
        register_all_modules()
        _PIPELINES.clear()
        _PIPELINES[key] = test_pipelines(cfg)
    return _PIPELINES[key]


def decode_batch(batch: dict, cfg, key: str = '') -> dict:
    """Read and transform a batch of images (a Ray Data CPU task).

    ``batch``: ``idx``, ``img_path``. Adds ``prepared`` (the test
    pipeline's output, None for an unreadable image), ``error`` ('' or
    why it was skipped) and ``decode_s`` (this batch's time, shared out
    per image)."""
    from .inferencer import prepare_item
    start = time.perf_counter()
    pipelines = _pipelines_for(cfg, key)
    prepared, errors = [], []
    for idx, path in zip(batch['idx'], batch['img_path']):
        out, err = prepare_item(pipelines, str(path), int(idx))
        prepared.append(out)
        errors.append('' if err is None else f'{type(err).__name__}: {err}')
    n = max(len(errors), 1)
    return dict(idx=batch['idx'], img_path=batch['img_path'],
                prepared=prepared, error=np.array(errors, dtype=object),
                decode_s=np.full(len(errors),
                                 (time.perf_counter() - start) / n))


class Scorer:
    """A model actor: the model built once, then batch after batch of
    decoded images scored (a Ray Data actor; one GPU each when given).

    With ``line_format`` ('.jsonl' or '.csv') it also turns each image's
    scores into its output line (thresholds, ``topk``, ``only_predicted``
    as the driver's inferencer says), so that the driver only appends
    bytes: one driver then keeps up with many GPUs."""

    def __init__(self, cfg, checkpoint: str, device: Optional[str],
                 amp: Optional[bool], fold_bn: Optional[bool],
                 thresholds=None, topk: Optional[int] = None,
                 only_predicted: bool = False,
                 line_format: Optional[str] = None,
                 threads: Optional[int] = None):
        import torch

        from mlic.utils import register_all_modules
        from .inferencer import MultiLabelInferencer
        register_all_modules()
        if threads:  # the CPUs this actor holds (not Ray's default of 1)
            torch.set_num_threads(threads)
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.infer = MultiLabelInferencer(cfg, checkpoint, device=device,
                                          amp=amp, fold_bn=fold_bn,
                                          thresholds=thresholds)
        self.topk, self.only_predicted = topk, only_predicted
        self.line_format = line_format

    def __call__(self, batch: dict) -> dict:
        start = time.perf_counter()
        errors = batch['error']
        ok = [k for k, e in enumerate(errors) if not e]
        scores = np.zeros((len(errors), self.infer.num_classes), np.float32)
        if ok:
            scores[ok] = self.infer.score_prepared(
                [batch['prepared'][k] for k in ok],
                [str(batch['img_path'][k]) for k in ok])
        out = dict(idx=batch['idx'], img_path=batch['img_path'],
                   error=errors, decode_s=batch['decode_s'])
        if self.line_format:
            out['line'] = np.array(
                ['' if errors[k] else format_line(
                    result_for(self.infer, str(batch['img_path'][k]),
                               scores[k], self.topk, self.only_predicted),
                    self.line_format, self.infer.classes)
                 for k in range(len(errors))], dtype=object)
        else:
            out['scores'] = scores
        n = max(len(errors), 1)
        out['model_s'] = np.full(len(errors),
                                 (time.perf_counter() - start) / n)
        return out


def result_for(infer, path: str, scores, topk: Optional[int],
               only_predicted: bool) -> dict:
    """One image's result as ``infer.py`` writes it."""
    r = infer.result(path, scores, topk)
    if only_predicted:
        r.pop('scores')
    return r


# -- the driver --------------------------------------------------------------
def connect(address: Optional[str], env: Optional[dict] = None,
            num_cpus: Optional[int] = None):
    """``ray.init``: the cluster at ``address`` ('auto': the one this
    machine belongs to), or a local one (``num_cpus``). Returns the time
    it took."""
    ray = require_ray()
    start = time.perf_counter()
    kwargs = dict(runtime_env=dict(env_vars=dict(env or {})),
                  include_dashboard=False, log_to_driver=True,
                  configure_logging=False)
    if address:
        ray.init(address=address, **kwargs)
    else:
        # 'local': a new cluster in this process's care, even where
        # this machine has joined another one
        ray.init(address='local', num_cpus=num_cpus, **kwargs)
    return time.perf_counter() - start


def build_dataset(cfg, checkpoint: str, items: Sequence[str], indices,
                  *, batch_size: int, model_workers: int,
                  gpus_per_worker: float, cpus_per_worker: float,
                  decode_cpus: Optional[int], device: Optional[str],
                  amp: Optional[bool], fold_bn: Optional[bool],
                  thresholds=None, topk: Optional[int] = None,
                  only_predicted: bool = False,
                  line_format: Optional[str] = None,
                  rows_per_block: Optional[int] = None):
    """The Ray dataset of scored images, in the order of ``items``."""
    ray = require_ray()
    import pyarrow as pa
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    if rows_per_block is None:
        # enough blocks for every worker to have some, not millions
        rows_per_block = min(max(-(-len(items) // 64), batch_size),
                             16 * batch_size)
    table = pa.table(dict(idx=pa.array(indices, pa.int64()),
                          img_path=pa.array(list(items), pa.string())))
    blocks = [table.slice(s, rows_per_block)
              for s in range(0, max(len(items), 1), rows_per_block)]
    ds = ray.data.from_arrow(blocks)
    # Ray Data's defaults retry a task whose worker or node died, and
    # restart such an actor (max_restarts=-1), its batch scored again
    key = hashlib.sha256(repr(
        cfg.test_dataloader.dataset.pipeline).encode()).hexdigest()
    ds = ds.map_batches(decode_batch, fn_kwargs=dict(cfg=cfg, key=key),
                        batch_size=batch_size, batch_format='numpy',
                        num_cpus=1,
                        compute=ray.data.TaskPoolStrategy(size=decode_cpus),
                        # room for a batch of large decoded photos; this
                        # also keeps decoding a stage of its own (Ray fuses
                        # a task stage into the next actor stage when their
                        # resources agree)
                        memory=DECODE_MEMORY_PER_IMAGE * batch_size)
    return ds.map_batches(
        Scorer, fn_constructor_kwargs=dict(
            cfg=cfg, checkpoint=os.path.abspath(checkpoint), device=device,
            amp=amp, fold_bn=fold_bn, thresholds=thresholds, topk=topk,
            only_predicted=only_predicted, line_format=line_format,
            threads=max(1, int(cpus_per_worker))),
        batch_size=batch_size, batch_format='numpy',
        compute=ray.data.ActorPoolStrategy(size=model_workers),
        num_gpus=gpus_per_worker or None, num_cpus=cpus_per_worker)


class ClusterTooSmallError(RuntimeError):
    """The cluster cannot hold the model actors and a decoding task (Ray
    would wait for ever)."""


def check_resources(available: dict, model_workers: int,
                    cpus_per_worker: float, gpus_per_worker: float,
                    need_cpus: float) -> None:
    """Refuse a run whose actors and at least one decoding task do not fit
    the cluster's CPUs and GPUs (Ray would queue them for ever)."""
    cpus, gpus = available.get('CPU', 0), available.get('GPU', 0)
    if gpus_per_worker and model_workers * gpus_per_worker > gpus:
        raise ClusterTooSmallError(
            f'--model-workers {model_workers} x --gpus-per-worker '
            f'{gpus_per_worker:g} needs {model_workers * gpus_per_worker:g} '
            f'GPUs; the Ray cluster has {gpus:g}. Use fewer model workers, '
            'or add GPU nodes (ray start --address ... on each)')
    if need_cpus > cpus:
        raise ClusterTooSmallError(
            f'{model_workers} model worker(s) x {cpus_per_worker:g} CPUs '
            f'plus decoding need {need_cpus:g} CPUs; the Ray cluster has '
            f'{cpus:g}. Lower --model-workers, --cpus-per-worker or '
            '--decode-cpus, or add nodes')


def write_skipped(path: str, skipped: List[tuple]) -> None:
    """``path``: one ``img_path<TAB>reason`` line per skipped image."""
    with atomic_write(path) as f:
        f.write('img_path\treason\n')
        for name, why in skipped:
            clean = ' '.join(str(why).split())
            f.write(f'{name}\t{clean}\n')


def tag_on_ray(infer, items: Sequence[str], out: Optional[str], *,
               checkpoint: str, address: Optional[str] = None,
               model_workers: int = 1, gpus_per_worker: float = 0,
               cpus_per_worker: float = 1, decode_cpus: Optional[int] = None,
               device: Optional[str] = None, batch_size: int = 8, topk: Optional[int] = None,
               only_predicted: bool = False, resume: bool = False,
               env: Optional[dict] = None, num_cpus: Optional[int] = None,
               progress_every: int = 1000,
               log=lambda message: print(message, file=sys.stderr)):
    """Score ``items`` on Ray (module docstring). ``infer``: the driver's
    :class:`MultiLabelInferencer` (classes, thresholds and the output
    policy; its model is not run here). Returns (results in memory when
    there is no ``out``, skipped ``(path, why)``, the writer or None, a
    summary dict)."""
    if model_workers < 1:
        raise ValueError(f'model_workers={model_workers} must be >= 1')
    require_ray()  # before any file is opened
    writer = None
    if out:
        writer = open_writer(out, infer.classes, resume=resume,
                             run=run_record_for(infer, items, checkpoint,
                                                topk, only_predicted))
    # JSONL/CSV lines are made by the model actors; Parquet rows (as
    # columns) and the printed table from the scores, here
    line_format = None
    if out and result_format(out) in ('.jsonl', '.csv'):
        line_format = result_format(out)
    todo = list(range(len(items)))
    if writer is not None and writer.done:
        todo = [i for i in todo if items[i] not in writer.done]
        log(f'--resume: {len(items) - len(todo)} images already in '
            f'{writer.partial}; {len(todo)} to go')
    results, skipped = [], []
    summary = dict(images=0, skipped=0, decode_s=0.0, model_s=0.0)
    wall = time.perf_counter()
    try:
        need_cpus = model_workers * cpus_per_worker + (decode_cpus or 1)
        if not address and num_cpus is None:
            # a local cluster: room for the actors and decoding, even on
            # a machine with fewer cores (they share them)
            num_cpus = max(os.cpu_count() or 1, int(-(-need_cpus // 1)))
        summary['startup_s'] = connect(address, env, num_cpus)
        check_resources(require_ray().cluster_resources(), model_workers,
                        cpus_per_worker, gpus_per_worker, need_cpus)
        if todo:
            ds = build_dataset(
                infer.cfg, checkpoint, [items[i] for i in todo], todo,
                batch_size=batch_size, model_workers=model_workers,
                gpus_per_worker=gpus_per_worker,
                cpus_per_worker=cpus_per_worker, decode_cpus=decode_cpus,
                device=device or ('cuda' if gpus_per_worker else 'cpu'),
                amp=infer.amp, fold_bn=infer.fold_bn,
                thresholds=[float(t) for t in infer.thresholds], topk=topk,
                only_predicted=only_predicted, line_format=line_format)
            done, next_line, start = 0, progress_every, time.perf_counter()
            for batch in ds.iter_batches(batch_size=None,
                                         batch_format='numpy'):
                ok = []
                for k, path in enumerate(batch['img_path']):
                    why = batch['error'][k]
                    if why:
                        skipped.append((str(path), why))
                        log(f'skipped {path}: {why}')
                    else:
                        ok.append(k)
                summary['decode_s'] += float(np.sum(batch['decode_s']))
                summary['model_s'] += float(np.sum(batch['model_s']))
                paths = [str(batch['img_path'][k]) for k in ok]
                if line_format:
                    writer.write_lines([batch['line'][k] for k in ok])
                elif writer is not None:  # Parquet: columns, no dicts
                    writer.write_scores(paths, batch['scores'][ok],
                                        infer.thresholds, topk,
                                        only_predicted)
                else:
                    results.extend(
                        result_for(infer, p, batch['scores'][k], topk,
                                   only_predicted)
                        for p, k in zip(paths, ok))
                if done == 0:
                    summary['first_s'] = time.perf_counter() - wall
                    first_done = len(batch['img_path'])
                done += len(batch['img_path'])
                summary['last_s'] = time.perf_counter() - wall
                if done >= next_line or done == len(todo):
                    rate = done / max(time.perf_counter() - start, 1e-9)
                    log(f'{done}/{len(todo)} images, {rate:.1f} img/s, '
                        f'{len(skipped)} skipped')
                    next_line = done + progress_every
            summary['images'] = done - len(skipped)
            if done > first_done:  # the rate once the first batch is out
                summary['steady_img_s'] = (done - first_done) / max(
                    summary['last_s'] - summary['first_s'], 1e-9)
    except BaseException:
        if writer is not None:
            writer.close()
            log(f'stopped; {writer.count} predictions so far are in '
                f'{writer.partial} (--resume continues)')
        raise
    finally:
        ray = sys.modules.get('ray')
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    if writer is not None:
        writer.finish()
        write_skipped(out + SKIPPED_SUFFIX, skipped)
    summary['skipped'] = len(skipped)
    summary['wall_s'] = time.perf_counter() - wall
    return results, skipped, writer, summary


def summary_line(summary: dict) -> str:
    """The end-of-run line: images, skipped, wall time, img/s, and how the
    workers' time split between decoding and the model."""
    wall = summary['wall_s']
    busy = summary['decode_s'] + summary['model_s']
    share = (f'; worker time {100 * summary["decode_s"] / busy:.0f}% '
             f'decode, {100 * summary["model_s"] / busy:.0f}% model'
             if busy > 0 else '')
    steady = (f'; first results after {summary["first_s"]:.1f} s, then '
              f'{summary["steady_img_s"]:.1f} img/s'
              if 'steady_img_s' in summary else '')
    return (f'ray: {summary["images"]} images, {summary["skipped"]} '
            f'skipped, {wall:.1f} s ({summary["images"] / max(wall, 1e-9):.1f}'
            f' img/s, Ray start-up {summary.get("startup_s", 0):.1f} s)'
            + steady + share)


__all__ = ['tag_on_ray', 'check_resources', 'ClusterTooSmallError',
           'decode_batch', 'Scorer', 'build_dataset', 'connect',
           'require_ray', 'summary_line', 'write_skipped', 'RAY_HINT',
           'SKIPPED_SUFFIX']
