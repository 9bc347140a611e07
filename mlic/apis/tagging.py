"""Tagging images: ``tools/infer.py`` and ``tools/dist_infer.sh`` as a
library - the run (:func:`tag`: score, stream to the output, shard and
merge under torchrun) and its result files, written as images are scored,
complete under their final name only at the end, resumable, held by one
process, and resumed only by the run that started them.

While a run works, its results go to ``<out>.partial`` (one line per image,
flushed after each batch); when the run ends they are flushed to disk and
renamed to ``<out>``. A kill therefore leaves ``<out>.partial`` - never a
plausible but incomplete ``<out>`` - and an earlier complete ``<out>``
stays intact until the new one is complete. ``resume=True`` continues a
``.partial`` (or extends a complete ``<out>``): the images already in it
are skipped, and a line cut by the kill is dropped.

Beside the output:

* ``<out>.run.json`` says what defines the run (:func:`run_identity`: the
  checkpoint's SHA-256, the config, the classes, the thresholds, the output
  options and a digest of the input list). A resume whose run differs in
  any of them is refused with what differs (:class:`RunMismatchError`), so
  a file never mixes two models, two threshold sets or two input lists.
* ``<out>.lock`` is held while a process writes (:class:`mlic.fileio.
  OwnerLock`): a second run on the same ``<out>``, with or without
  ``resume``, is refused while the first lives; after a crash the kernel
  has released it and ``resume`` works.

None of these fixed names is followed if it is a symbolic link.

Formats: ``.jsonl``, one JSON object per image (``img_path``, ``scores``
for every class, ``pred_labels``, ``pred_scores``); ``.csv``, ``img_path``,
one score column per class, ``pred_labels`` (space-separated).
"""
import csv
import json
import os
import os.path as osp
import re
import sys
from typing import List, Optional, Sequence

import torch.distributed as dist
from mmengine.utils import ProgressBar

from mlic.fileio import atomic_write
from .parquet_results import ParquetResultWriter
from .result_files import (FORMATS, LOCK_SUFFIX, PARTIAL_SUFFIX,
                           RUN_SUFFIX, OutputInUseError, ResultFileError,
                           ResultWriter, RunMismatchError, _csv_header,
                           file_digest, format_line, list_digest,
                           result_format, run_differences, run_identity)


def merge_parts(parts: List[str], order: Sequence[str], out: str,
                classes: Sequence[str]) -> int:
    """Merge the per-rank outputs of a sharded run into ``out``, in
    ``order`` (the input list; item ``i`` was scored by part
    ``i % len(parts)``). Streams: memory does not grow with the number of
    images. Returns the number of lines written."""
    fmt = result_format(out)
    readers, heads = [], []
    for part in parts:
        f = open(part, encoding='utf-8', newline='')
        if fmt == '.csv':
            f.readline()
        readers.append(f)
        heads.append(None)

    def key_of(line):
        if fmt == '.jsonl':
            return json.loads(line)['img_path']
        return next(csv.reader([line]))[0]

    written = 0
    try:
        with atomic_write(out, newline='') as dst:
            if fmt == '.csv':
                csv.writer(dst).writerow(_csv_header(classes))
            world = len(parts)
            for i, item in enumerate(order):
                r = i % world
                if heads[r] is None:
                    line = readers[r].readline()
                    heads[r] = (key_of(line), line) if line else ('', '')
                key, line = heads[r]
                if line and key == item:
                    dst.write(line)
                    heads[r] = None
                    written += 1
    finally:
        for f in readers:
            f.close()
    return written


def parts_names(out_dir: str, world: int, fmt: str) -> List[str]:
    return [osp.join(out_dir, f'part-{r:05d}-of-{world:05d}{fmt}')
            for r in range(world)]


def other_world_parts(out_dir: str, world: int) -> dict:
    """Part files in ``out_dir`` written by a run with another number of
    processes than ``world``: {their number of processes: [names]}."""
    found = {}
    try:
        names = sorted(os.listdir(out_dir))
    except FileNotFoundError:
        return found
    for name in names:
        m = re.fullmatch(r'part-\d{5}-of-(\d{5})\.(jsonl|csv)'
                         r'(\.partial|\.run\.json|\.lock)?', name)
        if m and int(m.group(1)) != world:
            found.setdefault(int(m.group(1)), []).append(name)
    return found


def check_parts_world(out_dir: str, world: int, resume: bool) -> None:
    """Refuse to shard over ``world`` processes into a folder that holds
    the parts of a run over another number: its work would be scored again
    beside files that no merge reads."""
    found = other_world_parts(out_dir, world)
    if not found:
        return
    n, names = sorted(found.items())[0]
    unfinished = any(x.endswith(PARTIAL_SUFFIX) for x in names)
    what = 'an unfinished run' if unfinished else 'a finished run'
    then = (f'resume it with {n} processes (bash tools/dist_infer.sh ... {n} '
            '... --resume)' if unfinished else
            'its predictions file is beside them')
    raise ResultFileError(
        f'{out_dir} holds the parts of {what} over {n} processes '
        f'({names[0]}, {len(names)} files); this run has {world}'
        + (' (--resume continues only a run over the same number)'
           if resume else '') + f'. Either {then}, or write elsewhere '
        '(--out), or delete those part files to start again')


def shard(items: Sequence, rank: int, world: int) -> list:
    return list(items[rank::world])


def output_files(out: Optional[str], rank: int, world: int, fmt: str):
    """(this process's output file or None, the merged file or None):
    ``out`` itself in one process; under torchrun ``out`` is a folder that
    gets ``part-<rank>-of-<world><fmt>`` and the merged ``predictions<fmt>``.
    """
    if world == 1:
        return out, None
    return (parts_names(out, world, fmt)[rank],
            osp.join(out, 'predictions' + fmt))


def run_record_for(infer, items: Sequence[str], checkpoint: str,
                   topk: Optional[int], only_predicted: bool, rank: int = 0,
                   world: int = 1) -> dict:
    """What a ``--resume`` of a run of ``infer`` over ``items`` must agree
    on (checked against ``OUT.run.json``). Not the engine, the batch or
    the number of workers: they do not change what is written."""
    return run_identity(
        checkpoint, infer.cfg.pretty_text, infer.classes, infer.thresholds,
        items, topk=topk, only_predicted=bool(only_predicted),
        amp=bool(infer.amp), shard=f'{rank} of {world}')


def open_writer(out: str, classes: Sequence[str], resume: bool = False,
                run: Optional[dict] = None):
    """The writer for ``out``'s format (.jsonl, .csv: :class:`ResultWriter`;
    .parquet: :class:`~mlic.apis.parquet_results.ParquetResultWriter`)."""
    if result_format(out) == '.parquet':
        return ParquetResultWriter(out, classes, resume=resume, run=run)
    return ResultWriter(out, classes, resume=resume, run=run)


def tag(infer, items: Sequence[str], out: Optional[str] = None, *,
        checkpoint: str = '', batch_size: int = 8, workers: int = 0,
        topk: Optional[int] = None, only_predicted: bool = False,
        resume: bool = False, rank: int = 0, world: int = 1,
        log=lambda message: print(message, file=sys.stderr)):
    """Score ``items`` (this process's shard of them when ``world`` > 1)
    with the inferencer ``infer``, writing each batch to ``out`` as it
    comes (:class:`ResultWriter`, with the run's identity: a ``resume``
    continues only the same run). Unreadable images are skipped and
    logged. Returns (results kept in memory when there is no ``out``,
    skipped ``(name, why)``, the writer or None)."""
    run_record = None
    if out:
        run_record = run_record_for(infer, items, checkpoint, topk,
                                    only_predicted, rank, world)
    if world > 1:
        items = shard(items, rank, world)
    writer = None
    if out:
        writer = open_writer(out, infer.classes, resume=resume,
                             run=run_record)
        if writer.done:
            before = len(items)
            items = [i for i in items if i not in writer.done]
            log(f'--resume: {before - len(items)} images already in '
                f'{writer.partial}; {len(items)} to go')
    bar = ProgressBar(len(items), file=sys.stderr) if items else None
    results, skipped = [], []
    try:
        for batch in infer.iter_batches(items, batch_size, topk=topk,
                                        on_error='skip', workers=workers):
            if only_predicted:
                batch = [{k: v for k, v in r.items() if k != 'scores'}
                         for r in batch]
            if writer is not None:
                writer.write(batch)
            else:
                results.extend(batch)
            new = infer.skipped[len(skipped):]
            for name, why in new:
                log(f'\nskipped {name}: {why}')
            skipped = list(infer.skipped)
            for _ in range(len(batch) + len(new)):
                bar.update()
    except BaseException:
        if writer is not None:
            writer.close()
            log(f'\nstopped; {writer.count} predictions so far are in '
                f'{writer.partial} (--resume continues)')
        raise
    log('')
    if writer is not None:
        writer.finish()
    return results, skipped, writer


def merge_after_all(out_dir: str, items: Sequence[str], merged: str,
                    classes: Sequence[str], rank: int, world: int) -> int:
    """Under torchrun: wait for every rank, then merge the parts in input
    order on rank 0 (a barrier after it). Returns the merged count (0 on
    other ranks). The process group is destroyed at the end."""
    try:
        dist.barrier()
        count = 0
        if rank == 0:
            parts = parts_names(out_dir, world, osp.splitext(merged)[1])
            count = merge_parts(parts, items, merged, classes)
        dist.barrier()
        return count
    finally:
        dist.destroy_process_group()


__all__ = ['ResultWriter', 'open_writer', 'run_record_for', 'ResultFileError', 'RunMismatchError',
           'OutputInUseError', 'merge_parts', 'parts_names', 'result_format',
           'run_identity', 'run_differences', 'file_digest', 'shard', 'tag',
           'output_files', 'merge_after_all', 'check_parts_world',
           'other_world_parts', 'PARTIAL_SUFFIX', 'RUN_SUFFIX',
           'LOCK_SUFFIX', 'FORMATS', 'format_line', 'list_digest']
