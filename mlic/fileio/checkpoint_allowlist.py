"""What an mmengine checkpoint may contain when loaded weights-only.

torch >= 2.6 loads checkpoints with ``weights_only=True``; mmengine 0.10.x
does not pass that argument, and its checkpoints hold a few non-tensor
globals (numpy scalars/arrays/dtypes, mmengine's ``HistoryBuffer``,
parameter-scheduler states). :func:`allow_mmengine_checkpoints`
allow-lists exactly those, so that ``--resume``, ``load_from`` and
``tools/test.py`` work while loading stays safe: nothing in the list can
run code, and weights-only mode is never switched off.
"""
import functools
import inspect
import pickle

import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.optim.scheduler import param_scheduler

from .safe_read import numpy_pickle_globals
from mlic.upstream.private import param_scheduler_base

_ALLOWED = False


@functools.lru_cache(maxsize=1)
def _mmengine_classes():
    """mmengine classes whose instances or methods a checkpoint refers to."""
    base = param_scheduler_base()
    schedulers = [
        obj for obj in vars(param_scheduler).values()
        if isinstance(obj, type) and issubclass(obj, base)
    ]
    return (HistoryBuffer, *schedulers)


def checkpoint_getattr(obj, name):
    """``getattr`` restricted to functions defined by allow-listed classes.

    Pickle (protocol < 4) stores a function with a dotted qualified name,
    such as ``HistoryBuffer.min`` or ``OneCycleParamScheduler._annealing_cos``,
    as ``getattr(<class>, <name>)``; mmengine checkpoints hold such references
    in the message hub and scheduler states. This stands in for ``getattr``
    during weights-only loading and resolves exactly that pattern: ``obj`` must
    be one of the allow-listed classes and the result a function that class
    defines. Anything else is refused, so it cannot reach other objects.
    """
    if not any(obj is cls for cls in _mmengine_classes()):
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr on {obj!r}, which is not allowed')
    if name.startswith('__'):
        raise pickle.UnpicklingError(
            f'checkpoint asks for {obj.__qualname__}.{name}, not allowed')
    value = inspect.getattr_static(obj, name, None)
    if isinstance(value, staticmethod):
        value = value.__func__
    if not (inspect.isfunction(value)
            and value.__qualname__ == f'{obj.__qualname__}.{name}'):
        raise pickle.UnpicklingError(
            f'checkpoint asks for {obj.__qualname__}.{name}, which is not a '
            'function of that class')
    return getattr(obj, name)


def mmengine_checkpoint_globals():
    """The exact allow-list :func:`allow_mmengine_checkpoints` installs."""
    return numpy_pickle_globals() + list(_mmengine_classes()) + [
        (checkpoint_getattr, 'builtins.getattr')
    ]


def allow_mmengine_checkpoints():
    """Allow-list the globals of mmengine checkpoints for weights-only load.

    Idempotent. Called by :func:`mlic.engine.read_checkpoint` (every load
    mlic makes) and by the tools' run set-up (:func:`mlic.engine.prepare_run`,
    for the loads mmengine makes itself). ``import mlic`` does not call it:
    it changes torch's allow-list for the whole process, which a library
    should not do behind your back. To ``torch.load`` an mmengine
    checkpoint in your own code, call it first (or use ``read_checkpoint``).
    """
    global _ALLOWED
    if _ALLOWED:
        return
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    _ALLOWED = True
