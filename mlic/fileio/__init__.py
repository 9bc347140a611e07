"""Files mlic reads and writes: the ground floor every other package uses.

* :mod:`.atomic`: every file mlic writes appears complete or not at all
  (temporary beside the target, fsync, rename); output paths checked
  before any work; temporaries of dead processes removed.
* :mod:`.locks`: a file held by one live process at a time (the training
  work dir, an output being written), with who holds it.
* :mod:`.safe_read`: regular files only, size-capped; pickles through an
  allow-list of plain containers and numpy arrays.
* :mod:`.checkpoint_allowlist`: the globals an mmengine checkpoint may
  hold when loaded weights-only.
"""
from .atomic import (TMP_PREFIX, DiskFullError, OutputPathError,
                     atomic_output, atomic_replace, atomic_write,
                     check_output_dir, check_output_path, disk_full_message,
                     open_exclusive, remove_stale_temporaries,
                     temporary_name, write_error)
from .locks import FileInUseError, OwnerLock, open_no_follow
from .safe_read import (MAX_IMAGE_BYTES, RefusedPickleError,
                        numpy_pickle_globals, read_regular_file,
                        safe_pickle_load)

__all__ = [
    'TMP_PREFIX', 'DiskFullError', 'OutputPathError', 'atomic_output',
    'atomic_replace', 'atomic_write', 'check_output_dir', 'check_output_path',
    'disk_full_message', 'open_exclusive', 'remove_stale_temporaries',
    'temporary_name', 'write_error', 'FileInUseError', 'OwnerLock',
    'open_no_follow', 'MAX_IMAGE_BYTES', 'RefusedPickleError',
    'numpy_pickle_globals', 'read_regular_file', 'safe_pickle_load'
]
