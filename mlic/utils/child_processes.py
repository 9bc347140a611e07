"""Processes: who holds a file (host, pid alive?), and child processes
that end with their parent.

A DataLoader's worker processes (persistent ones especially) wait on a pipe
for work; when the training process is killed with SIGKILL - a scheduler's
preemption, the out-of-memory killer - nothing tells them, and they stay
alive for good, holding their memory. :class:`EndWithParent`, used as (or
around) a loader's ``worker_init_fn``, asks the kernel to send each worker
SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere
it only checks, once, that the parent is still there).
"""
import ctypes
import ctypes.util
import os
import signal
import socket
import sys

PR_SET_PDEATHSIG = 1


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


def end_with_parent(parent_pid: int) -> bool:
    """Make this process receive SIGKILL when its parent dies. Returns
    whether the kernel took the request (Linux only)."""
    armed = False
    if sys.platform.startswith('linux'):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                               use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0,
                               0) == 0
        except (OSError, AttributeError):  # pragma: no cover
            armed = False
    # The parent may have died before the request: then no signal comes.
    if os.getppid() != parent_pid:
        os._exit(1)
    return armed


class EndWithParent:
    """A ``worker_init_fn`` that ties the worker to the process that built
    the loader, then calls ``inner`` (the loader's own init function)."""

    def __init__(self, inner=None, parent_pid=None):
        self.inner = inner
        self.parent_pid = os.getpid() if parent_pid is None else parent_pid

    def __call__(self, worker_id):
        end_with_parent(self.parent_pid)
        if self.inner is not None:
            self.inner(worker_id)


def tie_workers_to_parent(loader):
    """Wrap a built DataLoader's ``worker_init_fn`` in
    :class:`EndWithParent` (once); loaders without workers are unchanged."""
    if getattr(loader, 'num_workers', 0) and not isinstance(
            getattr(loader, 'worker_init_fn', None), EndWithParent):
        loader.worker_init_fn = EndWithParent(loader.worker_init_fn)
    return loader
