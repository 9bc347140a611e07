"""The result files of a tagging run (``tools/infer.py``'s outputs): the
formats, the writer that appends to ``<out>.partial`` and renames it at the
end, the run record a ``--resume`` is checked against, the lock; see
:mod:`mlic.apis.tagging` for the run that writes them and the layout."""
import csv
import hashlib
import io
import json
import os
import os.path as osp
import shutil
from typing import Iterable, List, Optional, Sequence, Set

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

    def _resume_source(self, resume):
        """What a run continues from: ``self.partial`` (an unfinished run),
        ``self.path`` (a finished one, extended) or None (a new file);
        checked against the run record. A ``.partial`` without --resume is
        refused: it holds another run's work."""
        has_partial = osp.lexists(self.partial)
        if has_partial and not resume:
            raise ResultFileError(
                f'{self.partial} holds the predictions of an unfinished run; '
                'pass --resume to continue it (the images in it are '
                'skipped), or delete it to start again')
        source = None
        if resume and has_partial:
            source = self.partial
        elif resume and osp.exists(self.path):
            source = self.path
        if source is not None and self.run is not None:
            self._check_run(source)
        return source

    def _write_run(self):
        """The run record beside the output (what --resume checks)."""
        if self.run is not None:
            with atomic_write(self.run_file) as f:
                json.dump(self.run, f, indent=1)

    def _open(self, resume):
        path = self.path
        source = self._resume_source(resume)
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
        self._write_run()

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
        self.write_lines([format_line(r, self.fmt, self.classes)
                          for r in results])

    def write_lines(self, lines: Sequence[str]) -> None:
        """Append lines already in this file's format
        (:func:`format_line`), one per image."""
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
