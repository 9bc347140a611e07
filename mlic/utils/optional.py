"""Optional dependencies: import them where a feature needs them, or say
what to install.

Each feature that needs a package mlic does not require (Ray, pyarrow,
Gradio...) calls :func:`require` with the modules and a hint naming the
extra to install; the ImportError then reads ``<hint> (<Python's
message>)``, so a user without the extra learns the one command that
fixes it, and nothing is imported at mlic's import time.
"""
import importlib


def require(*names: str, hint: str):
    """The modules ``names`` (one module for one name, else a tuple), or an
    ImportError starting with ``hint``."""
    if not names:
        raise TypeError('require: name at least one module')
    try:
        modules = tuple(importlib.import_module(n) for n in names)
    except ImportError as err:
        raise ImportError(f'{hint} ({err})') from None
    return modules[0] if len(modules) == 1 else modules


__all__ = ['require']
