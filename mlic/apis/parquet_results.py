"""Predictions as Parquet (``--out tags.parquet``), for archives where a
JSONL line per image is too big or too slow to read back.

Columns: ``img_path`` (string), ``pred_labels`` (list of strings),
``pred_scores`` (list of float32) and, unless ``only_predicted``,
``scores`` (a fixed-size list of float32, one per class, in the order of
the class names stored in the file's metadata under ``mlic.classes``).
Read with ``pyarrow.parquet.read_table(path)`` or
``pandas.read_parquet(path)``.

A Parquet file cut by a kill cannot be read (its footer is written last),
so while the run works the rows go to ``<out>.partial/`` as numbered shard
files, each written whole and renamed into place; :meth:`finish` streams
the shards into ``<out>`` (atomically) and removes the folder. ``resume``
reads the image paths of the shards written so far; the rows of a shard
not yet written are scored again. The lock and the run record are those
of :class:`~mlic.apis.result_files.ResultWriter`.
"""
import itertools
import json
import os
import os.path as osp
import shutil
from typing import Iterable, Optional, Sequence

import numpy as np

from mlic.fileio import atomic_replace, write_error
from mlic.utils.optional import require
from .result_files import ResultFileError, ResultWriter

PARQUET_HINT = ('Parquet output needs pyarrow: pip install -e ".[ray]" (or '
                'pip install pyarrow)')


def _pyarrow():
    return require('pyarrow', 'pyarrow.parquet', hint=PARQUET_HINT)


def schema(classes: Sequence[str], with_scores: bool):
    pa, _ = _pyarrow()
    fields = [pa.field('img_path', pa.string())]
    if with_scores:
        fields.append(pa.field('scores',
                               pa.list_(pa.float32(), len(classes))))
    fields += [pa.field('pred_labels', pa.list_(pa.string())),
               pa.field('pred_scores', pa.list_(pa.float32()))]
    return pa.schema(fields, metadata={
        'mlic.classes': json.dumps(list(classes))})


class ParquetResultWriter(ResultWriter):
    """:class:`ResultWriter`'s interface for ``.parquet`` (module
    docstring). ``rows_per_shard``: rows a shard holds (what a kill may
    cost to score again)."""

    def __init__(self, path: str, classes: Sequence[str],
                 resume: bool = False, run: Optional[dict] = None,
                 rows_per_shard: int = 10000):
        _pyarrow()
        self.rows_per_shard = rows_per_shard
        self._rows, self._shards = [], 0  # pending column chunks
        self._pending = 0  # rows in them
        self._schema = None
        self._index = None  # class name -> column, made on first use
        super().__init__(path, classes, resume=resume, run=run)

    def _open(self, resume):
        _, pq = _pyarrow()
        source = self._resume_source(resume)
        os.makedirs(self.partial, exist_ok=True)
        if source == self.path:  # extend a complete file: it is shard 0
            shutil.copyfile(self.path, self._shard_name(0) + '.tmp')
            os.replace(self._shard_name(0) + '.tmp', self._shard_name(0))
        for name in sorted(os.listdir(self.partial)):
            if name.endswith('.tmp'):  # a shard cut by a kill
                os.remove(osp.join(self.partial, name))
        names = self._shard_files()
        for name in names:
            paths = pq.read_table(name, columns=['img_path']).column(0)
            self.done.update(paths.to_pylist())
            self.count += len(paths)
        self._shards = len(names)
        self._write_run()

    def _shard_name(self, k):
        return osp.join(self.partial, f'shard-{k:06d}.parquet')

    def _shard_files(self):
        return [osp.join(self.partial, n)
                for n in sorted(os.listdir(self.partial))
                if n.startswith('shard-') and n.endswith('.parquet')]

    def write(self, results: Iterable[dict]) -> None:
        """Rows from result dicts (``infer.result``'s)."""
        rows = list(results)
        if not rows:
            return
        scores = None
        if 'scores' in rows[0]:
            scores = np.array([[r['scores'][c] for c in self.classes]
                               for r in rows], dtype=np.float32)
        index = self._class_index()
        self._add(dict(
            img_path=[r.get('img_path', '') for r in rows], scores=scores,
            pred_counts=np.array([len(r['pred_labels']) for r in rows],
                                 dtype=np.int64),
            pred_idx=np.array([index[c] for r in rows
                               for c in r['pred_labels']], dtype=np.int32),
            pred_val=np.array([v for r in rows for v in r['pred_scores']],
                              dtype=np.float32)))

    def _class_index(self) -> dict:
        if self._index is None:
            self._index = {c: k for k, c in enumerate(self.classes)}
        return self._index

    def write_scores(self, paths: Sequence[str], scores, thresholds,
                     topk: Optional[int] = None,
                     only_predicted: bool = False) -> None:
        """Rows from a (B, C) score array, the same as :meth:`write` of
        ``infer.result`` of each image (labels at or above their class's
        threshold, or the ``topk`` best, best first; equal scores in class
        order) without a Python object per image or label: what lets one
        driver keep up with many model workers."""
        b, c = len(paths), len(self.classes)
        scores = np.asarray(scores, dtype=np.float32).reshape(b, c)
        order = np.argsort(-scores, axis=1, kind='stable')
        if topk is not None:
            chosen = np.zeros((b, c), dtype=bool)
            chosen[:, :min(topk, c)] = True
        else:
            above = scores >= np.asarray(thresholds, dtype=np.float64)
            chosen = np.take_along_axis(above, order, axis=1)
        pred_idx = order[chosen].astype(np.int32)  # row by row, best first
        rows = np.repeat(np.arange(b), chosen.sum(1))
        self._add(dict(img_path=[str(p) for p in paths],
                       scores=None if only_predicted else scores,
                       pred_counts=chosen.sum(1).astype(np.int64),
                       pred_idx=pred_idx,
                       pred_val=scores[rows, pred_idx]))

    def _add(self, chunk: dict) -> None:
        if not len(chunk['img_path']):
            return
        self._rows.append(chunk)
        self._pending += len(chunk['img_path'])
        while self._pending >= self.rows_per_shard:
            self._flush(self.rows_per_shard)

    def _take(self, n: int) -> dict:
        """The first ``n`` pending rows as one chunk."""
        parts = []
        while n > 0 and self._rows:
            chunk = self._rows[0]
            k = min(n, len(chunk['img_path']))
            flat = int(chunk['pred_counts'][:k].sum())
            head, rest = {}, {}
            for key, v in chunk.items():
                cut = flat if key in ('pred_idx', 'pred_val') else k
                head[key] = None if v is None else v[:cut]
                rest[key] = None if v is None else v[cut:]
            parts.append(head)
            if len(rest['img_path']):
                self._rows[0] = rest
            else:
                self._rows.pop(0)
            n -= k
            self._pending -= k
        merged = dict(img_path=list(itertools.chain.from_iterable(
            p['img_path'] for p in parts)))
        for key in ('scores', 'pred_counts', 'pred_idx', 'pred_val'):
            values = [p[key] for p in parts if p[key] is not None]
            merged[key] = np.concatenate(values) if values else None
        return merged

    def _flush(self, n: Optional[int] = None):
        if not self._pending:
            return
        rows = self._take(self._pending if n is None else n)
        pa, pq = _pyarrow()
        with_scores = rows['scores'] is not None
        if self._schema is None:
            self._schema = schema(self.classes, with_scores)
        offsets = pa.array(np.concatenate(
            [[0], np.cumsum(rows['pred_counts'])]).astype(np.int32))
        cols = dict(img_path=pa.array(rows['img_path'], pa.string()))
        if with_scores:
            cols['scores'] = pa.FixedSizeListArray.from_arrays(
                pa.array(rows['scores'].reshape(-1), pa.float32()),
                len(self.classes))
        names = pa.array(self.classes, pa.string())
        cols['pred_labels'] = pa.ListArray.from_arrays(
            offsets, names.take(pa.array(rows['pred_idx'], pa.int32())))
        cols['pred_scores'] = pa.ListArray.from_arrays(
            offsets, pa.array(rows['pred_val'], pa.float32()))
        table = pa.Table.from_pydict(cols, schema=self._schema)
        name = self._shard_name(self._shards)
        try:
            pq.write_table(table, name + '.tmp')
            atomic_replace(name + '.tmp', name)
        except OSError as err:
            raise write_error(
                name, err, then=f'The {self.count} predictions before this '
                f'shard are in {self.partial}; --resume continues from '
                'there.') from None
        self._shards += 1
        self.count += len(rows['img_path'])

    def finish(self) -> str:
        """Write the last shard, stream every shard into the final file
        (atomically) and remove the shards."""
        _, pq = _pyarrow()
        try:
            self._flush()
            tmp = f'{self.path}.tmp{os.getpid()}'
            writer = None
            for name in self._shard_files():
                table = pq.read_table(name)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            if writer is None:  # no image: an empty file with the columns
                schema_ = self._schema or schema(self.classes, True)
                writer = pq.ParquetWriter(tmp, schema_)
            writer.close()
            atomic_replace(tmp, self.path)
            shutil.rmtree(self.partial)
        except OSError as err:
            raise write_error(self.path, err) from None
        finally:
            self._lock.release()
        return self.path

    def close(self) -> None:
        """Stop without finishing: rows not yet in a shard are dropped
        (a resume scores them again); the shards stay."""
        self._rows, self._pending = [], 0
        self._lock.release()


def read_parquet_predictions(path: str):
    """(class names, the table) of a file written by
    :class:`ParquetResultWriter`."""
    _, pq = _pyarrow()
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    if b'mlic.classes' not in meta:
        raise ResultFileError(f'{path}: not an mlic predictions file (no '
                              'mlic.classes in its metadata)')
    return json.loads(meta[b'mlic.classes']), table


__all__ = ['ParquetResultWriter', 'read_parquet_predictions', 'schema',
           'PARQUET_HINT']
