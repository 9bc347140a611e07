"""A training stopped from outside (Ctrl-C, SIGTERM from a scheduler or
torchrun) says where it can resume from.

:func:`stop_signals` makes SIGTERM raise :class:`TrainingStopped` (a
``KeyboardInterrupt``, as Ctrl-C raises) in the block it wraps, so that the
run unwinds as for Ctrl-C: a checkpoint being written is dropped (the
earlier one stays, :mod:`mlic.fileio.atomic`) and the work-dir lock is
released. :func:`stopped_message` is the line the run's log then ends with.
"""
import contextlib
import signal
import threading

from .checkpoint import find_latest_checkpoint


class TrainingStopped(KeyboardInterrupt):
    """SIGTERM arrived while training."""


class Stop:
    """Which signal stopped the block (None: none)."""

    signal = None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signal)  # as a shell reports it


@contextlib.contextmanager
def stop_signals():
    """SIGTERM raises :class:`TrainingStopped` inside the block, SIGINT
    ``KeyboardInterrupt`` as usual; the :class:`Stop` yielded records
    which came, since the exception may surface as another one (mmengine
    turns any exception while it formats the config of a checkpoint into a
    ``SyntaxError``). Main thread only; the previous handlers are restored
    after the block."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_signal(signum, frame):
        first = stop.signal is None
        stop.signal = signum
        if first or signum == signal.SIGINT:
            raise (TrainingStopped('SIGTERM') if signum == signal.SIGTERM
                   else KeyboardInterrupt())

    previous = {s: signal.signal(s, on_signal)
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stopped_message(stop: Stop, work_dir: str,
                    config: str = 'CONFIG') -> str:
    """What to log when training stops from outside: why, the checkpoint a
    resume starts from, and the command."""
    why = 'SIGTERM' if stop.signal == signal.SIGTERM else \
        'an interrupt (Ctrl-C)'
    latest = find_latest_checkpoint(work_dir)
    if latest is None:
        return (f'Training stopped by {why} before its first checkpoint: '
                f'nothing to resume in {work_dir}; start it again.')
    return (f'Training stopped by {why}; the checkpoints in {work_dir} are '
            f'intact. Resume from {latest} with: python tools/train.py '
            f'{config} --work-dir {work_dir} --resume')
