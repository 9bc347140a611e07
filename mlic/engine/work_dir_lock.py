"""One training run per work dir at a time.

A training run holds ``<work_dir>/.mlic-train.lock`` from its start to its
end: an exclusive ``flock`` on the file (released by the kernel when the
process ends, however it ends - a SIGKILL included, so a lock is never
stale) and, in the file, who holds it (pid, host, start time, command).
A second training started in the same work dir is refused with a message
naming that process; it never removes the first run's files. Temporary
files are removed only when the process that wrote them is gone
(:func:`mlic.fileio.remove_stale_temporaries`).

On filesystems without ``flock`` (some network mounts) the lock falls back
to the file's content: a holder on this host whose process is alive is
respected; one on another host cannot be checked and is reported with the
file to remove if that run is known to be gone.
"""
import errno
import json
import os
import os.path as osp
import sys
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from mlic.fileio import hostname, pid_alive

LOCK_NAME = '.mlic-train.lock'


class WorkDirInUseError(RuntimeError):
    """Another live training run holds the work dir."""


def _describe(info: dict) -> str:
    started = info.get('started')
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started)) \
        if isinstance(started, (int, float)) else 'an unknown time'
    command = info.get('command') or '?'
    return (f'process {info.get("pid", "?")} on host '
            f'{info.get("host", "?")}, started {when} ({command})')


class WorkDirLock:
    """The lock of one work dir; :meth:`acquire` / :meth:`release`, or use
    it as a context manager."""

    # locks this process holds, by path: a run of this process that ended
    # without releasing its lock (an exception in a notebook) hands it over
    _held = {}

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self._fd = None

    def _read_info(self, fd=None) -> dict:
        try:
            if fd is not None:
                os.lseek(fd, 0, os.SEEK_SET)
                text = os.read(fd, 65536).decode('utf-8', 'replace')
            else:
                with open(self.path, encoding='utf-8') as f:
                    text = f.read()
            return json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {}

    def _refuse(self, info: dict, certain: bool = True):
        how = ('Wait for it to finish, stop it, or train in another work dir '
               '(--work-dir). To resume that run after it stopped: '
               'tools/train.py CONFIG --work-dir '
               f'{self.work_dir} --resume.')
        if not certain:
            how += (' If that run is known to be gone (its host cannot be '
                    f'checked from here), delete {self.path}.')
        raise WorkDirInUseError(
            f'the work dir {self.work_dir} is in use by another training '
            f'run: {_describe(info)}. {how}')

    def acquire(self) -> 'WorkDirLock':
        if self._fd is not None:
            return self
        earlier = WorkDirLock._held.get(osp.abspath(self.path))
        if earlier is not None and earlier is not self:
            earlier.release()
        os.makedirs(self.work_dir, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            locked = self._flock(fd)
            if locked and not self._same_file(fd):
                # the holder released (and removed) it between our open and
                # our lock: lock the file that is there now
                os.close(fd)
                continue
            break
        try:
            if locked is False:
                self._refuse(self._read_info(fd))
            if locked is None:  # no flock here: the file's content decides
                info = self._read_info(fd)
                if info and info.get('pid') != os.getpid():
                    if info.get('host') == hostname():
                        if pid_alive(int(info.get('pid', -1))):
                            self._refuse(info)
                    else:
                        self._refuse(info, certain=False)
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
        WorkDirLock._held[osp.abspath(self.path)] = self
        return self

    def _same_file(self, fd) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
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
        WorkDirLock._held.pop(osp.abspath(self.path), None)
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
