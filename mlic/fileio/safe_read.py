"""Reading files a user may have been sent, without running anything.

:func:`read_regular_file` reads only regular files, up to a size cap, so
that a FIFO or a link to ``/dev/zero`` named like an image cannot hang or
exhaust a process. :func:`safe_pickle_load` unpickles plain containers and
numpy arrays only (older prediction files); checkpoints are loaded
weights-only through :mod:`mlic.fileio.checkpoint_allowlist`, which takes
the same numpy allow-list (:func:`numpy_pickle_globals`).
"""
import errno
import os
import pickle
import stat
from typing import Optional

import numpy as np

# The largest file an image reader accepts (bytes). A 100-megapixel RGB
# PNG is about 300 MB uncompressed and well under this compressed.
MAX_IMAGE_BYTES = 512 * 1024 * 1024


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
