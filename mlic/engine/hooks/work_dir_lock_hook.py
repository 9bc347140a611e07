"""One training run per work dir, as a hook of its own.

:class:`WorkDirLockHook` holds ``<work_dir>/.mlic-train.lock``
(:class:`mlic.engine.work_dir_lock.WorkDirLock`) from ``before_train`` to
``after_train`` on the main process, and removes the temporary files that
processes which are gone left there (never a live run's). It is a default
hook of every mlic config (``default_hooks.work_dir_lock``), independent of
checkpointing: ``default_hooks.checkpoint=None`` keeps the lock. Training
without it is refused by the run set-up unless switched off on purpose
(``default_hooks.work_dir_lock=None``, logged).
"""
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mlic.fileio import remove_stale_temporaries
from mlic.registry import HOOKS
from ..work_dir_lock import WorkDirLock


@HOOKS.register_module()
class WorkDirLockHook(Hook):
    """See the module docstring."""

    priority = 'VERY_HIGH'  # before any hook writes into the work dir

    def __init__(self):
        self._lock = None

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        self._lock = WorkDirLock(runner.work_dir).acquire()
        removed = remove_stale_temporaries(runner.work_dir)
        if removed:
            runner.logger.info('Removed incomplete files of an earlier run '
                               f'that is gone: {removed}')

    def after_train(self, runner) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
