"""What mlic takes from its upstream libraries that is not plain public
API, in one place:

* :mod:`mlic.upstream.imports`: the import-time guards ``import mlic``
  runs first (MMCV's transformer bricks and MMPretrain's models imported
  in an order that works beside ``transformers`` >= 5; mmcv-lite's warning
  about a compiled op mlic does not use kept quiet);
* :mod:`mlic.upstream.private`: every private mmengine name mlic relies
  on, reached only through its functions and checked by
  :func:`~mlic.upstream.private.check_upstream` (run when
  :mod:`mlic.engine` is imported), which names the name and the installed
  mmengine version if an upgrade removed it.

This package's ``__init__`` imports neither: the guards must run before
``mmengine.runner`` is imported, which :mod:`.private` imports.
"""
