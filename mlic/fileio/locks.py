"""A file that one live process at a time may hold, saying who holds it.

:class:`OwnerLock` holds ``<name>.lock`` (any fixed name) from
:meth:`~OwnerLock.acquire` to :meth:`~OwnerLock.release`: an exclusive
``flock`` on the file - released by the kernel when the process ends,
however it ends (a SIGKILL included), so a lock is never stale - and, in
the file, who holds it (pid, host, start time, command). A second process
is refused with a message naming the first; nothing of the first is
touched. The training work dir (:mod:`mlic.engine.work_dir_lock`) and every
output that ``tools/infer.py`` writes as it goes
(:mod:`mlic.apis.tagging`) are held this way.

The lock file is opened without following links (``O_NOFOLLOW``): a
symlink planted under the lock's name in a shared folder is refused, never
truncated through (:func:`open_no_follow`).

On filesystems without ``flock`` (some network mounts) the lock falls back
to the file's content: a holder on this host whose process is alive is
respected; one on another host cannot be checked and is reported with the
file to remove if that run is known to be gone.
"""
import errno
import json
import os
import os.path as osp
import stat
import sys
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from mlic.utils.child_processes import hostname, pid_alive


class FileInUseError(RuntimeError):
    """Another live process holds the lock."""


class NotARegularFileError(OSError):
    """A fixed-name file mlic opens is a link, a folder or a device."""


def open_no_follow(path: str, flags: int, mode: int = 0o644,
                   what: str = 'file') -> int:
    """``os.open(path, flags)`` that refuses a symbolic link (it is not
    followed, so a link planted in a shared folder cannot make mlic write
    through it) and anything that is not a regular file. Returns the fd."""
    try:
        # O_NONBLOCK: a FIFO under that name cannot make the open wait
        fd = os.open(path, flags | getattr(os, 'O_NOFOLLOW', 0)
                     | getattr(os, 'O_NONBLOCK', 0), mode)
    except OSError as err:
        if err.errno == errno.ELOOP or osp.islink(path):
            target = os.readlink(path) if osp.islink(path) else '?'
            raise NotARegularFileError(
                errno.ELOOP,
                f'{what} {path} is a symbolic link (to {target}), not a file '
                'mlic wrote; it is not followed. Remove the link (rm '
                f'{path}) and run again') from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotARegularFileError(
            errno.EINVAL, f'{what} {path} is not a regular file; remove it '
            'and run again')
    return fd


def describe_holder(info: dict) -> str:
    started = info.get('started')
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started)) \
        if isinstance(started, (int, float)) else 'an unknown time'
    command = info.get('command') or '?'
    return (f'process {info.get("pid", "?")} on host '
            f'{info.get("host", "?")}, started {when} ({command})')


class OwnerLock:
    """The lock file ``path``; :meth:`acquire` / :meth:`release`, or use it
    as a context manager.

    Args:
        path: the lock file.
        what: what is held, for messages ('the work dir X', 'the output
            X').
        advice: what to do when another process holds it.
        error: the exception class of a refusal (default
            :class:`FileInUseError`).
    """

    # locks this process holds, by path: a holder of this process that
    # ended without releasing (an exception in a notebook) hands it over
    _held = {}
    error = FileInUseError

    def __init__(self, path: str, what: str = '', advice: str = '',
                 error=None):
        self.path = path
        if error is not None:
            self.error = error
        self.what = what or path
        self.advice = advice
        self._fd = None

    def _read_info(self, fd) -> dict:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 65536).decode('utf-8', 'replace')
            return json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {}

    def refuse(self, info: dict, certain: bool = True):
        how = self.advice
        if not certain:
            how += (' If that process is known to be gone (its host cannot '
                    f'be checked from here), delete {self.path}.')
        raise self.error(f'{self.what} is in use by another process: '
                         f'{describe_holder(info)}. {how}'.rstrip())

    def acquire(self) -> 'OwnerLock':
        if self._fd is not None:
            return self
        earlier = OwnerLock._held.get(osp.abspath(self.path))
        if earlier is not None and earlier is not self:
            earlier.release()
        os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
        while True:
            fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT,
                                what='lock file')
            locked = self._flock(fd)
            if locked and not self._same_file(fd):
                # the holder released (and removed) it between our open and
                # our lock: lock the file that is there now
                os.close(fd)
                continue
            break
        try:
            if locked is False:
                self.refuse(self._read_info(fd))
            if locked is None:  # no flock here: the file's content decides
                info = self._read_info(fd)
                if info and info.get('pid') != os.getpid():
                    if info.get('host') == hostname():
                        if pid_alive(int(info.get('pid', -1))):
                            self.refuse(info)
                    else:
                        self.refuse(info, certain=False)
            record = dict(pid=os.getpid(), host=hostname(),
                          started=time.time(), command=' '.join(sys.argv))
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(record).encode('utf-8'))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        OwnerLock._held[osp.abspath(self.path)] = self
        return self

    def _same_file(self, fd) -> bool:
        try:
            return os.fstat(fd).st_ino == os.lstat(self.path).st_ino
        except OSError:
            return False

    @staticmethod
    def _flock(fd):
        """True: locked; False: held by another process; None: this
        filesystem has no flock."""
        if fcntl is None:  # pragma: no cover - not POSIX
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as err:
            if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                return None
            raise

    def release(self) -> None:
        if self._fd is None:
            return
        OwnerLock._held.pop(osp.abspath(self.path), None)
        try:
            try:
                os.remove(self.path)  # while still holding it
            except OSError:
                pass
        finally:
            os.close(self._fd)  # releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
