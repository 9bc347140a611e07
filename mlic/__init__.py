"""mlic: multi-label image classification on MMEngine / MMPretrain.

Importing mlic has one effect beyond defining its modules, and it must stay:
it imports MMCV's transformer bricks and MMPretrain's models first, so that
MMPretrain imports beside ``transformers`` >= 5 and mmcv-lite's warning
about a compiled op mlic does not use is not printed
(``mlic/upstream/imports.py`` says exactly what and why). Nothing
else process-wide happens at import: the checkpoint allow-list, CPU
process groups and the default scope are set up by the calls that need
them (``mlic.engine.prepare_run``, ``mlic.utils.register_all_modules``).
"""
from .upstream.imports import import_upstream
from .version import __version__

import_upstream()

__all__ = ['__version__']
