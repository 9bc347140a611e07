"""Writing files so that nothing is lost or half-written.

Every file mlic writes goes through :func:`atomic_write` (or
:func:`atomic_replace` for a file another library wrote): the bytes go to
a hidden temporary file beside the final name (``.tmp-<pid>-<name>``),
are flushed to disk, and the temporary is renamed over the final name.
A kill at any moment leaves the earlier complete file or the new complete
file, never a truncated one; the temporary of a killed process is removed
by the next run once its owner is gone (:func:`remove_stale_temporaries`).

:func:`check_output_path` checks, before any work, that an output can be
written where asked.
"""
import contextlib
import errno
import glob
import os
import os.path as osp
import re
import shutil
import tempfile
from typing import Iterator, List

from mlic.utils.child_processes import pid_alive

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None

TMP_PREFIX = '.tmp-'
_TMP_PID = re.compile(r'^\.tmp-(\d+)-')


class OutputPathError(OSError):
    """An output that cannot be written where it was asked for."""


class DiskFullError(OSError):
    """The disk filled up while a file was written; the earlier file, if
    any, is intact."""


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
    """What to say when writing ``path`` failed with ENOSPC or EFBIG."""
    folder = osp.dirname(osp.abspath(path))
    try:
        free = shutil.disk_usage(folder).free
        space = f'{free / 2**20:.1f} MiB free there'
    except OSError:  # pragma: no cover
        space = 'free space unknown'
    if getattr(err, 'errno', None) == errno.EFBIG:
        return (f'{path} reached the largest file this process may write '
                f'(a file-size limit: ulimit -f, or the filesystem\'s; '
                f'{space}); the earlier file under that name, if any, is '
                'intact. Raise the limit (ulimit -f unlimited) or write to '
                f'another filesystem, then run again. ({err.strerror})')
    return (f'no space left on the device while writing {path} ({space}); '
            'the earlier file under that name, if any, is intact. Free '
            'space (old checkpoints, work_dirs) or write elsewhere, then '
            f'run again. ({err.strerror})')


def write_error(path: str, err: OSError, then: str = '') -> OSError:
    """``err`` from writing ``path`` as an error that names the file: a
    :class:`DiskFullError` for a full disk or a file-size limit (ENOSPC,
    EFBIG, EDQUOT), else ``err`` itself. ``then`` adds what was kept."""
    if getattr(err, 'errno', None) in _FULL:
        message = disk_full_message(path, err)
        return DiskFullError(err.errno, message + (f' {then}' if then
                                                   else ''))
    return err


_FULL = (errno.ENOSPC, errno.EFBIG, getattr(errno, 'EDQUOT', errno.ENOSPC))


def open_exclusive(path: str, mode: str = 'wb', **open_kwargs):
    """Create ``path`` and open it for writing; it must not exist (a
    symlink planted under that name is not followed: ``O_EXCL`` refuses
    it). For fixed names in shared folders."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | \
        getattr(os, 'O_NOFOLLOW', 0)
    fd = os.open(path, flags, 0o644)
    return os.fdopen(fd, mode, **open_kwargs)


def _nearly_full(folder: str, margin: int = 64 * 2**20) -> bool:
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:  # pragma: no cover
        return False


def _file_size_limited() -> bool:
    """Whether this process runs under a file-size limit (ulimit -f)."""
    if resource is None:  # pragma: no cover - not POSIX
        return False
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return soft != resource.RLIM_INFINITY


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
    # Claim the name (a leftover of an earlier process with this pid, or a
    # link planted there, is removed, never followed), so that the writer
    # fills a new regular file of ours.
    _remove_quietly(tmp)
    try:
        open_exclusive(tmp).close()
    except OSError as err:
        raise OutputPathError(f'cannot create {tmp} to write {path} '
                              f'({err.strerror}); choose a writable '
                              'location') from None
    try:
        yield tmp
        atomic_replace(tmp, path)
    except OSError as err:
        _remove_quietly(tmp)
        if getattr(err, 'errno', None) in _FULL:
            raise write_error(path, err) from None
        raise
    except RuntimeError as err:
        # torch.save reports a full disk or a file-size limit as a
        # RuntimeError of its zip writer ('file write failed'), without
        # errno: which of the two it was is told by the free space
        _remove_quietly(tmp)
        code = None
        if 'write failed' in str(err):
            code = errno.ENOSPC if _nearly_full(folder) else \
                errno.EFBIG if _file_size_limited() else None
        if code is None:  # neither: some other failure, as it was raised
            raise
        raise DiskFullError(code, disk_full_message(
            path, OSError(code, os.strerror(code)))) from None
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
