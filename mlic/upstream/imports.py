"""Importing MMCV and MMPretrain beside whatever else is installed.

This is the one place where mlic works around how its upstream packages
behave *at import time*. :func:`import_upstream` runs once, when
:mod:`mlic` is imported, before any mlic module imports them:

* **MMPretrain's multimodal models and ``transformers`` >= 5.**
  MMPretrain 1.2 imports its multimodal models (BLIP, CLIP, LLaVA, ...)
  whenever ``pycocotools`` and ``transformers>=4.28`` are installed. Those
  modules were written against ``transformers`` 4.x; with 5.x a name they
  import is gone, their fallback sets ``PreTrainedModel = None`` and
  ``import mmpretrain.models`` dies with ``TypeError: NoneType takes no
  arguments`` (``mmpretrain/models/multimodal/blip/language_model.py``).
  mlic uses none of those models. When the installed ``transformers`` is
  5.x or newer, mlic therefore imports MMPretrain with its own switch
  ``mmpretrain.utils.dependency.WITH_MULTIMODAL`` off: MMPretrain then
  registers its placeholders, which raise a clear ``ImportError`` if
  someone builds such a model. ``transformers`` itself is not imported or
  changed, and with ``transformers`` 4.x nothing is switched.
* **mmcv-lite's warning about a compiled op.** ``mmcv-lite`` has no
  compiled ops; importing ``mmcv.cnn.bricks.transformer`` warns that
  ``MultiScaleDeformableAttention`` is missing. mlic needs no compiled op,
  so that one warning is hidden while mlic imports the module, with a
  filter that lives only for that import (no process-wide filter).

When MMPretrain's models were already imported before mlic (by the user),
nothing is done: the import either worked already or failed before mlic
could act.
"""
import importlib.metadata
import sys
import warnings

MMCV_OP_WARNING = 'Fail to import ``MultiScaleDeformableAttention``'

# The first ``transformers`` major release MMPretrain 1.2's multimodal
# models cannot import with.
TRANSFORMERS_BREAKING_MAJOR = 5

_state = {'done': False, 'multimodal_off': False}


def _transformers_major():
    """Major version of the installed ``transformers`` (None if absent).

    Read from the package metadata, so ``transformers`` is not imported.
    """
    try:
        version = importlib.metadata.version('transformers')
    except importlib.metadata.PackageNotFoundError:
        return None
    head = version.split('.', 1)[0]
    return int(head) if head.isdigit() else None


def multimodal_switched_off() -> bool:
    """True when mlic imported MMPretrain with its multimodal models off."""
    return _state['multimodal_off']


def import_upstream() -> None:
    """Import MMCV's transformer bricks and MMPretrain's models, safely.

    Idempotent; see the module docstring for what it does and why.
    """
    if _state['done']:
        return
    _state['done'] = True
    if 'mmpretrain.models' not in sys.modules:
        # ``import mmpretrain`` loads its dependency flags but not its
        # models; the flag is read when ``mmpretrain.models`` is imported.
        import mmpretrain.utils.dependency as dependency
        major = _transformers_major()
        if (dependency.WITH_MULTIMODAL and major is not None
                and major >= TRANSFORMERS_BREAKING_MAJOR):
            dependency.WITH_MULTIMODAL = False
            _state['multimodal_off'] = True
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore', message=MMCV_OP_WARNING, category=UserWarning)
        import mmcv.cnn.bricks.transformer  # noqa: F401
        import mmpretrain.models  # noqa: F401
    if _state['multimodal_off']:
        _explain_multimodal_placeholders()


def _explain_multimodal_placeholders():
    """Placeholders that say why a multimodal model is unavailable.

    MMPretrain's own placeholders all name the last model of its list and
    suggest installing the extras, which are installed; these name the
    model and the real cause.
    """
    from mmpretrain.registry import MODELS
    version = importlib.metadata.version('transformers')
    names = [name for name, obj in MODELS.module_dict.items()
             if getattr(obj, '__name__', '') == 'ask_install']

    def placeholder(name):
        def unavailable(*args, **kwargs):
            raise ImportError(
                f'{name} is one of MMPretrain 1.2\'s multimodal models, which '
                f'cannot be imported with transformers {version} (they need '
                f'transformers<{TRANSFORMERS_BREAKING_MAJOR}); mlic imported '
                'MMPretrain without them (mlic/upstream/imports.py). '
                'Use them in an environment with transformers 4.x.')
        unavailable.__name__ = 'ask_install'
        return unavailable

    for name in names:
        MODELS.register_module(name=name, module=placeholder(name),
                               force=True)
