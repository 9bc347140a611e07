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
import json
import os
import os.path as osp
import shutil
from typing import Iterable, Optional, Sequence

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
        self._rows, self._shards = [], 0
        self._schema = None
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
        for r in results:
            self._rows.append(r)
        while len(self._rows) >= self.rows_per_shard:
            self._flush(self._rows[:self.rows_per_shard])
            self._rows = self._rows[self.rows_per_shard:]

    def _flush(self, rows):
        if not rows:
            return
        pa, pq = _pyarrow()
        with_scores = 'scores' in rows[0]
        if self._schema is None:
            self._schema = schema(self.classes, with_scores)
        cols = dict(img_path=[r.get('img_path', '') for r in rows])
        if with_scores:
            cols['scores'] = [[r['scores'][c] for c in self.classes]
                              for r in rows]
        cols['pred_labels'] = [r['pred_labels'] for r in rows]
        cols['pred_scores'] = [r['pred_scores'] for r in rows]
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
        self.count += len(rows)

    def finish(self) -> str:
        """Write the last shard, stream every shard into the final file
        (atomically) and remove the shards."""
        _, pq = _pyarrow()
        try:
            self._flush(self._rows)
            self._rows = []
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
        self._rows = []
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
