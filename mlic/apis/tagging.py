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
import hashlib
import io
import json
import os
import os.path as osp
import re
import shutil
import sys
from typing import Iterable, List, Optional, Sequence, Set

import torch.distributed as dist
from mmengine.utils import ProgressBar

from mlic.fileio import (OwnerLock, atomic_replace, atomic_write,
                         open_no_follow, write_error)
from mlic.fileio.locks import FileInUseError

PARTIAL_SUFFIX = '.partial'
RUN_SUFFIX = '.run.json'
LOCK_SUFFIX = '.lock'
FORMATS = ('.jsonl', '.csv', '.parquet')


class ResultFileError(ValueError):
    """An output that cannot be written or resumed as asked."""


class RunMismatchError(ResultFileError):
    """``--resume`` of an output that another run (model, thresholds,
    options, inputs) started."""


class OutputInUseError(FileInUseError):
    """Another live process is writing this output."""


def file_digest(path: str, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (a checkpoint: about 1 s a GB)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def list_digest(items: Sequence[str]) -> str:
    """SHA-256 of an ordered list of image paths."""
    h = hashlib.sha256()
    for item in items:
        h.update(os.fsencode(item) + b'\0')
    return h.hexdigest()


def run_identity(checkpoint: str, config_text: str, classes: Sequence[str],
                 thresholds, items: Sequence[str], **options) -> dict:
    """What defines a tagging run: a resume must agree on every entry.

    ``options``: the output options (topk, only_predicted, amp, the shard
    of a distributed run, ...), anything JSON can hold."""
    thr = [float(t) for t in thresholds] if thresholds is not None else None
    return dict(
        checkpoint=osp.basename(checkpoint),
        checkpoint_sha256=file_digest(checkpoint),
        config_sha256=hashlib.sha256(config_text.encode('utf-8'))
        .hexdigest(),
        classes=list(classes), thresholds=thr, num_inputs=len(items),
        inputs_sha256=list_digest(items),
        options={k: options[k] for k in sorted(options)})


def run_differences(old: dict, new: dict) -> List[str]:
    """What differs between two :func:`run_identity` records, in words."""
    out = []
    if old.get('checkpoint_sha256') != new.get('checkpoint_sha256'):
        out.append(f'checkpoint: {old.get("checkpoint")} (sha256 '
                   f'{str(old.get("checkpoint_sha256"))[:12]}) vs '
                   f'{new.get("checkpoint")} (sha256 '
                   f'{str(new.get("checkpoint_sha256"))[:12]})')
    if old.get('config_sha256') != new.get('config_sha256'):
        out.append('config: another test pipeline or model settings')
    if old.get('classes') != new.get('classes'):
        a, b = old.get('classes') or [], new.get('classes') or []
        out.append(f'classes: {len(a)} ({a[:3]}...) vs {len(b)} '
                   f'({b[:3]}...)')
    elif old.get('thresholds') != new.get('thresholds'):
        a, b = old.get('thresholds'), new.get('thresholds')
        if a is None or b is None:
            out.append(f'thresholds: {"none" if a is None else "set"} vs '
                       f'{"none" if b is None else "set"}')
        else:
            k = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
            out.append(f'thresholds: class {new["classes"][k]!r} '
                       f'{a[k]:g} vs {b[k]:g} (--thr / --thr-file)')
    if old.get('inputs_sha256') != new.get('inputs_sha256'):
        out.append(f'inputs: {old.get("num_inputs")} images vs '
                   f'{new.get("num_inputs")} now (another list of images, '
                   'or another order)')
    a, b = old.get('options', {}), new.get('options', {})
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out.append(f'{key}: {a.get(key)!r} vs {b.get(key)!r}')
    return out


def result_format(path: str) -> str:
    ext = osp.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ResultFileError(f'{path}: predictions are written as .jsonl, '
                              '.csv or .parquet')
    return ext


def _csv_header(classes):
    return ['img_path'] + list(classes) + ['pred_labels']


def format_line(result: dict, fmt: str, classes: Sequence[str]) -> str:
    if fmt == '.jsonl':
        return json.dumps(result) + '\n'
    buf = io.StringIO()
    csv.writer(buf).writerow(
        [result.get('img_path', '')]
        + [f'{result["scores"][c]:.6f}' for c in classes]
        + [' '.join(result['pred_labels'])])
    return buf.getvalue()


def _read_done(path: str, fmt: str, classes: Sequence[str]):
    """(image paths in a result file, byte length of its complete lines)."""
    done, good = [], 0
    with open(path, 'rb') as f:
        data = f.read()
    lines = data.split(b'\n')
    # the last element is b'' for a file ending in a newline, else a line
    # cut by a kill
    complete, offset = lines[:-1], 0
    for k, raw in enumerate(complete):
        end = offset + len(raw) + 1
        text = raw.decode('utf-8', 'replace')
        if fmt == '.jsonl':
            try:
                done.append(json.loads(text)['img_path'])
            except (ValueError, KeyError, TypeError):
                raise ResultFileError(
                    f'{path}:{k + 1}: not a prediction line; cannot resume '
                    'from this file') from None
        else:
            row = next(csv.reader([text]), [])
            if k == 0:
                if row != _csv_header(classes):
                    raise ResultFileError(
                        f'{path}: its header is not this model\'s classes '
                        f'({row[1:4]}... vs {list(classes)[:3]}...); resume '
                        'with the model that wrote it, or write elsewhere')
            elif len(row) != len(classes) + 2:
                break  # a row cut by a kill (csv can hold newlines)
            else:
                done.append(row[0])
        offset = good = end
    return done, good


class ResultWriter:
    """Append results to ``<path>.partial``; :meth:`finish` renames it.

    Args:
        path: the final output (.jsonl or .csv).
        classes: the model's class names (the CSV columns).
        resume: continue an unfinished ``.partial`` (or a complete file).
        run: what defines this run (:func:`run_identity`); written to
            ``<path>.run.json`` and compared on ``resume``. ``None``: no
            check (a library caller that manages its own files).
    """

    def __init__(self, path: str, classes: Sequence[str],
                 resume: bool = False, run: Optional[dict] = None):
        self.path = path
        self.fmt = result_format(path)
        self.classes = list(classes)
        self.partial = path + PARTIAL_SUFFIX
        self.run_file = path + RUN_SUFFIX
        self.run = run
        self.done: Set[str] = set()
        self.count = 0
        self._file = None
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self._lock = OwnerLock(
            path + LOCK_SUFFIX, what=f'the output {path}',
            advice='It is being written; wait for that run to finish or '
            'stop it (after it stopped, --resume continues it), or write '
            'elsewhere (--out).', error=OutputInUseError)
        self._lock.acquire()
        try:
            self._open(resume)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, resume):
        path = self.path
        has_partial = osp.lexists(self.partial)
        if has_partial and not resume:
            raise ResultFileError(
                f'{self.partial} holds the predictions of an unfinished run; '
                'pass --resume to continue it (the images in it are '
                'skipped), or delete it to start again')
        source = None
        if resume and has_partial:
            source = self.partial
        elif resume and osp.exists(path):
            source = path
        if source is not None and self.run is not None:
            self._check_run(source)
        if source == path:  # extend a complete file: copy it, then append
            fd = open_no_follow(path, os.O_RDONLY, what='output')
            with os.fdopen(fd, 'rb') as src, open(
                    open_no_follow(self.partial, os.O_WRONLY | os.O_CREAT
                                   | os.O_EXCL, what='output'), 'wb') as dst:
                shutil.copyfileobj(src, dst)
            source = self.partial
        flags = os.O_RDWR | os.O_CREAT | (0 if source else os.O_TRUNC)
        fd = open_no_follow(self.partial, flags, what='output')
        self._file = open(fd, 'r+b')
        good = 0
        if source is not None:
            done, good = _read_done(self.partial, self.fmt, self.classes)
            self._file.truncate(good)  # drop a line cut by a kill
            self.done = set(done)
            self.count = len(done)
        self._file.seek(good)
        if good == 0 and self.fmt == '.csv':
            self._write_header()
        if self.run is not None:
            with atomic_write(self.run_file) as f:
                json.dump(self.run, f, indent=1)

    def _check_run(self, source):
        try:
            fd = open_no_follow(self.run_file, os.O_RDONLY,
                                what='run record')
            with os.fdopen(fd, encoding='utf-8') as f:
                old = json.load(f)
        except FileNotFoundError:
            raise RunMismatchError(
                f'cannot resume {source}: there is no {self.run_file} saying '
                'which model, thresholds and images it was written with '
                '(an older mlic, or the file was moved), so it cannot be '
                'checked against this run. Delete it to start again, or '
                'write elsewhere (--out)') from None
        except ValueError:
            raise RunMismatchError(
                f'cannot resume {source}: {self.run_file} is not a run '
                'record (JSON); delete both to start again') from None
        diff = run_differences(old, self.run)
        if diff:
            raise RunMismatchError(
                f'cannot resume {source}: it was written by another run; '
                + '; '.join(diff) + '. Resume with the same checkpoint, '
                'config, thresholds, options and inputs, or write elsewhere '
                f'(--out), or delete {source} to start again')

    def _write_header(self):
        buf = io.StringIO()
        csv.writer(buf).writerow(_csv_header(self.classes))
        self._file.write(buf.getvalue().encode('utf-8'))

    def write(self, results: Iterable[dict]) -> None:
        lines = [format_line(r, self.fmt, self.classes) for r in results]
        try:
            self._file.write(''.join(lines).encode('utf-8'))
            self._file.flush()
        except OSError as err:
            raise write_error(
                self.partial, err,
                then=f'At least the {self.count} predictions before this '
                f'batch are in {self.partial}; --resume continues from '
                'there.') from None
        self.count += len(lines)

    def finish(self) -> str:
        """Flush to disk and rename ``.partial`` to the final name."""
        try:
            self._file.close()
            atomic_replace(self.partial, self.path)
        except OSError as err:
            raise write_error(self.partial, err) from None
        finally:
            self._lock.release()
        return self.path

    def close(self) -> None:
        """Stop without finishing (the ``.partial`` stays to resume)."""
        try:
            if self._file is not None and not self._file.closed:
                try:
                    self._file.close()
                except OSError:  # the disk that failed the last write
                    pass
        finally:
            self._lock.release()


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
        from .parquet_results import ParquetResultWriter
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
           'LOCK_SUFFIX']
