"""One training run per work dir at a time.

A training run holds ``<work_dir>/.mlic-train.lock`` from its start to its
end (:class:`mlic.fileio.OwnerLock`: an exclusive ``flock``, released by
the kernel however the process ends, and who holds it in the file). A
second training started in the same work dir is refused with a message
naming that process; it never removes the first run's files. Temporary
files are removed only when the process that wrote them is gone
(:func:`mlic.fileio.remove_stale_temporaries`). A lock file that is a
symbolic link is refused, never written through.
"""
import os.path as osp

from mlic.fileio.locks import FileInUseError, OwnerLock

LOCK_NAME = '.mlic-train.lock'


class WorkDirInUseError(FileInUseError):
    """Another live training run holds the work dir."""


class WorkDirLock(OwnerLock):
    """The lock of one work dir."""

    error = WorkDirInUseError

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        super().__init__(
            osp.join(work_dir, LOCK_NAME),
            what=f'the work dir {work_dir}',
            advice=('Wait for it to finish, stop it, or train in another '
                    'work dir (--work-dir). To resume that run after it '
                    f'stopped: tools/train.py CONFIG --work-dir {work_dir} '
                    '--resume.'))
