"""Environment compatibility, in one place.

* torch >= 2.6 loads checkpoints with ``weights_only=True``; mmengine 0.10.x
  does not pass that argument, and its checkpoints hold a few non-tensor
  globals (numpy scalars/arrays/dtypes, mmengine's ``HistoryBuffer``).
  :func:`allow_mmengine_checkpoints` allow-lists exactly those, so that
  ``--resume``, ``load_from`` and ``tools/test.py`` work while loading stays
  safe: nothing in the list can run code, and weights-only mode is never
  switched off.
* mmengine's distributed init calls ``torch.cuda.set_device`` and its DDP
  wrapper passes GPU ids: :func:`init_cpu_distributed` sets up a gloo
  process group first, and :func:`adapt_cfg_for_device` selects mlic's CPU
  DDP wrapper.
* mmengine's ``AmpOptimWrapper`` refuses a CPU: ``--amp`` there becomes
  bfloat16 autocast (:class:`mlic.engine.CPUAmpOptimWrapper`), announced
  once in the log.
"""
import functools
import os

import numpy as np
import torch
import torch.distributed as torch_dist

_ALLOWED = False


def _numpy_safe_globals():
    """numpy globals a pickled scalar/array/dtype refers to.

    numpy 2 pickles under ``numpy._core``; numpy 1.x checkpoints refer to
    ``numpy.core``. Both names map to the same (current) functions.
    """
    try:
        multiarray = np._core.multiarray  # numpy >= 2
    except AttributeError:  # pragma: no cover - numpy 1.x
        multiarray = np.core.multiarray
    entries = [np.dtype, np.ndarray]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # Unpickling a dtype sets its state on an instance of the concrete
    # dtype class (numpy.dtypes.Float64DType, ...), which must be allowed too.
    kinds = [
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64,
        np.complex64, np.complex128, np.str_, np.bytes_, np.object_
    ]
    dtype_classes = []
    for kind in kinds:
        cls = type(np.dtype(kind))
        if cls is not np.dtype and cls not in dtype_classes:
            dtype_classes.append(cls)
    for cls in dtype_classes:
        entries.append(cls)
        entries.append((cls, f'numpy.dtypes.{cls.__name__}'))
    return entries


@functools.lru_cache(maxsize=1)
def _mmengine_classes():
    """mmengine classes whose instances or methods a checkpoint refers to."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.optim.scheduler import param_scheduler
    schedulers = [
        obj for obj in vars(param_scheduler).values()
        if isinstance(obj, type) and issubclass(
            obj, param_scheduler._ParamScheduler)
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
    import inspect
    import pickle
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
    return _numpy_safe_globals() + list(_mmengine_classes()) + [
        (checkpoint_getattr, 'builtins.getattr')
    ]


def allow_mmengine_checkpoints():
    """Allow-list the globals of mmengine checkpoints for weights-only load.

    Idempotent. Called when :mod:`mlic` is imported.
    """
    global _ALLOWED
    if _ALLOWED:
        return
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    _ALLOWED = True


def is_cpu_only():
    return not torch.cuda.is_available()


def init_cpu_distributed(launcher):
    """Initialise a gloo process group when launched without GPUs.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` first, which
    fails on a CPU-only machine. Once a group exists, the Runner skips its
    own initialisation. Returns True when a group was created here.
    """
    if launcher == 'none' or not is_cpu_only() or torch_dist.is_initialized():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs GPUs; on a CPU-only machine use '
            '--launcher pytorch (tools/dist_train.sh / dist_test.sh).')
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(
                f'--launcher pytorch needs the environment variable {key}; '
                'start the job with torchrun (tools/dist_train.sh).')
    torch_dist.init_process_group(backend='gloo')
    return True


def finish_distributed():
    """Tear the process group down before the interpreter exits.

    Left to interpreter shutdown, a gloo group's threads are sometimes still
    joinable when its destructor runs, and a rank aborts ("terminate called
    without an active exception", exit code -6) after a successful run.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        try:
            torch_dist.barrier()
        finally:
            torch_dist.destroy_process_group()


def adapt_cfg_for_device(cfg, logger_print=print):
    """Adjust a config for the hardware it runs on (CPU-only: DDP, AMP).

    * distributed on CPU: the model wrapper becomes ``CPUDistributedDataParallel``
      (no ``device_ids``), the backend gloo.
    * an ``AmpOptimWrapper`` on CPU becomes ``CPUAmpOptimWrapper`` (bfloat16
      autocast; fp16 loss scaling has no CPU implementation).
    """
    if not is_cpu_only():
        return cfg
    if cfg.get('launcher', 'none') != 'none':
        import mlic.engine  # noqa: F401  (registers the CPU DDP wrapper)
        wrapper = cfg.get('model_wrapper_cfg', None) or {}
        wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
        if wrapper_type in ('MMDistributedDataParallel',
                            'CPUDistributedDataParallel'):
            wrapper = dict(wrapper)
            wrapper['type'] = 'CPUDistributedDataParallel'
            wrapper.setdefault('find_unused_parameters',
                               cfg.get('find_unused_parameters', False))
            cfg.model_wrapper_cfg = wrapper
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
        cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    optim = cfg.get('optim_wrapper', None)
    if optim is not None and optim.get('type') == 'AmpOptimWrapper':
        dtype = optim.get('dtype', None)
        # A GPU recipe (fp16 + loss scaling) run on a CPU - tests, a laptop
        # smoke run - keeps mixed precision the only way a CPU offers it.
        asked = '' if dtype in (None, 'bfloat16', torch.bfloat16) else (
            f' (the config asks for dtype={dtype!r}, which needs a GPU)')
        logger_print('AMP requested on a CPU-only machine: using bfloat16 '
                     f'autocast (CPUAmpOptimWrapper){asked}; fp16 with loss '
                     'scaling needs a GPU.')
        new = {k: v for k, v in optim.items() if k not in ('loss_scale', )}
        new['type'] = 'CPUAmpOptimWrapper'
        new.pop('dtype', None)
        cfg.optim_wrapper = new
    return cfg
