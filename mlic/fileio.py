"""Reading and writing files so that nothing is lost or half-written.

Every file mlic writes goes through :func:`atomic_write` (or
:func:`atomic_replace` for a file another library wrote): the bytes go to
a hidden temporary file beside the final name (``.tmp-<pid>-<name>``),
are flushed to disk, and the temporary is renamed over the final name.
A kill at any moment leaves the earlier complete file or the new complete
file, never a truncated one; the temporary of a killed process is removed
by the next run once its owner is gone (:func:`remove_stale_temporaries`).

Reading: :func:`read_regular_file` reads only regular files, up to a size
cap, so that a FIFO or a link to ``/dev/zero`` named like an image cannot
hang or exhaust a process. :func:`check_output_path` checks, before any
work, that an output can be written where asked.
"""
import contextlib
import errno
import glob
import os
import os.path as osp
import pickle
import re
import shutil
import socket
import stat
import tempfile
from typing import Iterator, List, Optional

import numpy as np

TMP_PREFIX = '.tmp-'
_TMP_PID = re.compile(r'^\.tmp-(\d+)-')
# The largest file an image reader accepts (bytes). A 100-megapixel RGB
# PNG is about 300 MB uncompressed and well under this compressed.
MAX_IMAGE_BYTES = 512 * 1024 * 1024


class OutputPathError(OSError):
    """An output that cannot be written where it was asked for."""


class DiskFullError(OSError):
    """The disk filled up while a file was written; the earlier file, if
    any, is intact."""


def hostname() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def temporary_name(filename: str) -> str:
    """A hidden name beside ``filename`` (no glob of outputs matches)."""
    return f'{TMP_PREFIX}{os.getpid()}-{osp.basename(filename)}'


def _fsync_dir(path: str) -> None:
    try:  # make a rename durable
        fd = os.open(osp.dirname(osp.abspath(path)) or '.', os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - filesystems without dir fsync
        pass


def disk_full_message(path: str, err: OSError) -> str:
    folder = osp.dirname(osp.abspath(path))
    try:
        free = shutil.disk_usage(folder).free
        space = f'{free / 2**20:.1f} MiB free there'
    except OSError:  # pragma: no cover
        space = 'free space unknown'
    return (f'no space left on the device while writing {path} ({space}); '
            'the earlier file under that name, if any, is intact. Free '
            'space (old checkpoints, work_dirs) or write elsewhere, then '
            f'run again. ({err.strerror})')


def _nearly_full(folder: str, margin: int = 64 * 2**20) -> bool:
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:  # pragma: no cover
        return False


def atomic_replace(tmp_path: str, final_path: str) -> None:
    """Flush ``tmp_path`` to disk and rename it to ``final_path``."""
    with open(tmp_path, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp_path, final_path)
    _fsync_dir(final_path)


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` for a writer that takes a file
    name (``torch.save``, ``savefig``, ``torch.onnx.export``); renamed to
    ``path`` when the block ends without an error, removed otherwise."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, temporary_name(path))
    try:
        yield tmp
        atomic_replace(tmp, path)
    except OSError as err:
        _remove_quietly(tmp)
        if err.errno == errno.ENOSPC:
            raise DiskFullError(errno.ENOSPC,
                                disk_full_message(path, err)) from None
        raise
    except RuntimeError as err:
        # torch.save reports a full disk as a RuntimeError of its zip
        # writer ('file write failed'), without errno
        _remove_quietly(tmp)
        if 'write failed' in str(err) and _nearly_full(folder):
            raise DiskFullError(errno.ENOSPC, disk_full_message(
                path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))) \
                from None
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w', **open_kwargs):
    """``open(path, mode)`` whose content appears under ``path`` only when
    complete (see the module docstring). ``mode``: 'w' or 'wb'."""
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_write: mode={mode!r}, 'w' or 'wb'")
    if 'b' not in mode:
        open_kwargs.setdefault('encoding', 'utf-8')
    with atomic_output(path) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def remove_stale_temporaries(directory: str) -> List[str]:
    """Delete the temporary files (``.tmp-<pid>-*``) of processes that are
    gone; a live process's temporaries are kept."""
    removed = []
    for path in glob.glob(osp.join(glob.escape(directory), TMP_PREFIX + '*')):
        match = _TMP_PID.match(osp.basename(path))
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            os.remove(path)
            removed.append(path)
        except OSError:  # pragma: no cover - removed meanwhile
            pass
    return removed


def check_output_path(path: str, what: str = 'output') -> str:
    """Fail now, before any work, if ``path`` cannot be written: its
    folder cannot be created or is not writable, or ``path`` is a folder.
    Returns the absolute path."""
    path = osp.abspath(os.fspath(path))
    if osp.isdir(path):
        raise OutputPathError(f'{what} {path} is a folder; name a file')
    folder = osp.dirname(path)
    _check_folder(folder, what, path)
    return path


def check_output_dir(folder: str, what: str = 'output folder') -> str:
    """:func:`check_output_path` for a folder that files will go into."""
    folder = osp.abspath(os.fspath(folder))
    if osp.exists(folder) and not osp.isdir(folder):
        raise OutputPathError(f'{what} {folder} is a file, not a folder')
    _check_folder(folder, what, folder)
    return folder


def _check_folder(folder: str, what: str, path: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise OutputPathError(
            f'{what} {path}: cannot create the folder {folder} '
            f'({err.strerror}); choose a writable location') from None
    try:
        fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX + f'{os.getpid()}-',
                                     dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise OutputPathError(
            f'{what} {path}: cannot write in {folder} ({err.strerror}); '
            'choose a writable location') from None


def read_regular_file(path: str, max_bytes: Optional[int] = MAX_IMAGE_BYTES,
                      what: str = 'file') -> bytes:
    """The bytes of ``path``, which must be a regular file (a symlink to
    one is fine) of at most ``max_bytes``. Raises ``OSError`` whose
    ``strerror`` names the path and the reason otherwise; never blocks on a
    FIFO or reads a device."""

    def fail(code, reason):
        raise OSError(code, f'{what} {path}: {reason}')

    def unreadable(err):
        raise OSError(err.errno, f'cannot read {what} {path}: '
                      f'{err.strerror}')

    try:
        info = os.stat(path)
    except OSError as err:
        unreadable(err)
    if not stat.S_ISREG(info.st_mode):
        kind = 'a folder' if stat.S_ISDIR(info.st_mode) else \
            'a FIFO' if stat.S_ISFIFO(info.st_mode) else \
            'a device' if stat.S_ISCHR(info.st_mode) or \
            stat.S_ISBLK(info.st_mode) else 'not a regular file'
        fail(errno.EINVAL, f'is {kind}, not a regular file; not read')
    if max_bytes is not None and info.st_size > max_bytes:
        fail(errno.EFBIG, f'is {info.st_size} bytes, over the limit of '
             f'{max_bytes} bytes; not read')
    try:
        # O_NONBLOCK: should the path become a FIFO after the check, the
        # open returns at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
        with os.fdopen(fd, 'rb') as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                fail(errno.EINVAL, 'is not a regular file; not read')
            data = f.read(max_bytes + 1 if max_bytes is not None else -1)
    except OSError as err:
        if str(path) in str(err.strerror):
            raise
        unreadable(err)
    if max_bytes is not None and len(data) > max_bytes:
        fail(errno.EFBIG, f'is over the limit of {max_bytes} bytes; not read')
    return data


# ------------------------------------------------------------ safe pickles
def numpy_pickle_globals() -> list:
    """The numpy globals a pickled array, scalar or dtype refers to, as
    ``torch.serialization.add_safe_globals`` takes them (an object, or
    ``(object, 'module.name')``). numpy 2 pickles under ``numpy._core``;
    numpy 1.x files refer to ``numpy.core``; both names map to the current
    functions. Nothing here can run code: it rebuilds arrays only."""
    try:
        multiarray = np._core.multiarray  # numpy >= 2
    except AttributeError:  # pragma: no cover - numpy 1.x
        multiarray = np.core.multiarray
    entries = [np.dtype, np.ndarray]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # Unpickling a dtype sets its state on an instance of the concrete
    # dtype class (numpy.dtypes.Float64DType, ...), which must be allowed.
    kinds = [
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64,
        np.complex64, np.complex128, np.str_, np.bytes_, np.object_
    ]
    seen = []
    for kind in kinds:
        cls = type(np.dtype(kind))
        if cls is not np.dtype and cls not in seen:
            seen.append(cls)
            entries.append(cls)
            entries.append((cls, f'numpy.dtypes.{cls.__name__}'))
    return entries


class RefusedPickleError(ValueError):
    """A pickle that asks for something outside the allow-list."""


def safe_pickle_load(path: str) -> object:
    """Unpickle ``path`` allowing only plain containers (dict, list, tuple,
    str, numbers) and numpy arrays/scalars/dtypes
    (:func:`numpy_pickle_globals`). Anything else - ``os.system``, any
    class or function - is refused before it is looked up, so nothing in
    the file runs."""
    allowed = {}
    for entry in numpy_pickle_globals():
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        allowed[name] = obj

    class _Unpickler(pickle.Unpickler):

        def find_class(self, module, name):
            obj = allowed.get(f'{module}.{name}')
            if obj is None:
                raise RefusedPickleError(
                    f'{path} asks for {module}.{name}, which is not on '
                    'mlic\'s allow-list (plain containers and numpy '
                    'arrays); it is not loaded and nothing in it ran')
            return obj

        def persistent_load(self, pid):
            raise RefusedPickleError(f'{path} holds persistent references '
                                     '(a torch file?); it is not loaded')

    with open(path, 'rb') as f:
        try:
            return _Unpickler(f).load()
        except RefusedPickleError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError,
                AttributeError, IndexError) as err:
            raise ValueError(f'{path} is truncated or not a pickle '
                             f'({type(err).__name__}: {err})') from None
