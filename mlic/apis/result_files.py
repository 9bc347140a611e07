"""Prediction output files of ``tools/infer.py``: written as images are
scored, complete under their final name only at the end, resumable.

While a run works, its results go to ``<out>.partial`` (one line per image,
flushed after each batch); when the run ends they are flushed to disk and
renamed to ``<out>``. A kill therefore leaves ``<out>.partial`` - never a
plausible but incomplete ``<out>`` - and an earlier complete ``<out>``
stays intact until the new one is complete. ``resume=True`` continues a
``.partial`` (or extends a complete ``<out>``): the images already in it
are skipped, and a line cut by the kill is dropped.

Formats: ``.jsonl``, one JSON object per image (``img_path``, ``scores``
for every class, ``pred_labels``, ``pred_scores``); ``.csv``, ``img_path``,
one score column per class, ``pred_labels`` (space-separated).
"""
import csv
import io
import json
import os
import os.path as osp
import shutil
from typing import Iterable, List, Sequence, Set

from mlic.fileio import atomic_replace, atomic_write

PARTIAL_SUFFIX = '.partial'
FORMATS = ('.jsonl', '.csv')


class ResultFileError(ValueError):
    """An output that cannot be written or resumed as asked."""


def result_format(path: str) -> str:
    ext = osp.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ResultFileError(f'{path}: predictions are written as .jsonl or '
                              '.csv')
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
    """

    def __init__(self, path: str, classes: Sequence[str],
                 resume: bool = False):
        self.path = path
        self.fmt = result_format(path)
        self.classes = list(classes)
        self.partial = path + PARTIAL_SUFFIX
        self.done: Set[str] = set()
        self.count = 0
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        if osp.exists(self.partial) and not resume:
            raise ResultFileError(
                f'{self.partial} holds the predictions of an unfinished run; '
                'pass --resume to continue it (the images in it are '
                'skipped), or delete it to start again')
        if resume and osp.exists(self.partial):
            source = self.partial
        elif resume and osp.exists(path):
            shutil.copyfile(path, self.partial)
            source = self.partial
        else:
            source = None
        if source is not None:
            done, good = _read_done(source, self.fmt, self.classes)
            with open(source, 'rb+') as f:
                f.truncate(good)  # drop a line cut by a kill
            self.done = set(done)
            self.count = len(done)
            self._file = open(self.partial, 'a', encoding='utf-8',
                              newline='')
            if good == 0 and self.fmt == '.csv':
                self._write_header()
        else:
            self._file = open(self.partial, 'w', encoding='utf-8',
                              newline='')
            if self.fmt == '.csv':
                self._write_header()

    def _write_header(self):
        buf = io.StringIO()
        csv.writer(buf).writerow(_csv_header(self.classes))
        self._file.write(buf.getvalue())

    def write(self, results: Iterable[dict]) -> None:
        for result in results:
            self._file.write(format_line(result, self.fmt, self.classes))
            self.count += 1
        self._file.flush()

    def finish(self) -> str:
        """Flush to disk and rename ``.partial`` to the final name."""
        self._file.close()
        atomic_replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        """Stop without finishing (the ``.partial`` stays to resume)."""
        if not self._file.closed:
            self._file.close()


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


def shard(items: Sequence, rank: int, world: int) -> list:
    return list(items[rank::world])


__all__ = ['ResultWriter', 'ResultFileError', 'merge_parts', 'parts_names',
           'result_format', 'shard', 'PARTIAL_SUFFIX']

