"""The input normalisation each pretrained weight source was trained with.

Fine-tuning must feed a backbone the inputs its weights saw: torchvision's
ImageNet weights expect RGB normalised with the ImageNet mean/std, timm's
say so in their ``pretrained_cfg`` (``tresnet_l.miil_in1k_448``, for
example, was trained on [0, 1] inputs with no mean/std: mean 0, std 1).
:func:`expected_normalisation` derives that from the name of the weight
source; :func:`check_input_normalisation` compares it with a config's
``data_preprocessor`` before a run, so a config whose normalisation does not
match its weights stops with the values to set instead of fine-tuning from
features the weights never saw.

Values are in the data preprocessor's units: 0-255 pixels, RGB after
``to_rgb=True`` (images are decoded as BGR).
"""
import os.path as osp
import re
from typing import Optional

import timm

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

# torchvision's file naming: <arch>-<first 8 hex digits of the sha256>.pth
_TORCHVISION_FILE = re.compile(r'^[a-z0-9_]+-[0-9a-f]{8}\.pth$')
_TIMM_PREFIXES = ('hf-hub:timm/', 'timm/')
_WEIGHT_EXTS = ('.safetensors', '.pth', '.bin')


class InputNormalisationError(ValueError):
    """A config normalises its inputs unlike its pretrained weights."""


def _timm_cfg(name: str):
    """timm's pretrained config for ``arch.tag`` (None if unknown)."""
    if '.' not in name:
        return None
    try:
        cfg = timm.models.get_pretrained_cfg(name, allow_unregistered=False)
    except (RuntimeError, ValueError):
        return None
    return cfg


def expected_normalisation(source: str) -> Optional[dict]:
    """``dict(mean, std, to_rgb, origin)`` that ``source``'s weights expect.

    ``source`` is a backbone ``init_cfg.checkpoint``: a timm hub id
    (``timm/<arch>.<tag>``), a torchvision URL / ``torchvision://`` name, or
    a local file named as the public one (``resnet101-63fe2227.pth``,
    ``<arch>.<tag>.safetensors``). None when the name says nothing (a file
    of your own): then nothing is checked.
    """
    if not source:
        return None
    source = str(source)
    name = None
    for prefix in _TIMM_PREFIXES:
        if source.startswith(prefix):
            name = source[len(prefix):]
    if name is None and source.startswith('torchvision://'):
        return dict(mean=IMAGENET_MEAN, std=IMAGENET_STD, to_rgb=True,
                    origin='torchvision ImageNet weights')
    base = osp.basename(source.split('?', 1)[0])
    if name is None and ('download.pytorch.org/models/' in source
                         or _TORCHVISION_FILE.match(base)):
        return dict(mean=IMAGENET_MEAN, std=IMAGENET_STD, to_rgb=True,
                    origin='torchvision ImageNet weights')
    if name is None:
        for ext in _WEIGHT_EXTS:
            if base.endswith(ext):
                name = base[:-len(ext)]
    if name is None:
        return None
    cfg = _timm_cfg(name)
    if cfg is None:
        return None
    return dict(mean=tuple(255.0 * m for m in cfg.mean),
                std=tuple(255.0 * s for s in cfg.std), to_rgb=True,
                origin=f"timm's pretrained_cfg of {name}")


def _pretrained_sources(backbone: dict):
    init_cfg = backbone.get('init_cfg', None)
    if init_cfg is None:
        return []
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [c.get('checkpoint') for c in cfgs
            if c.get('type') == 'Pretrained' and c.get('checkpoint')]


def check_input_normalisation(cfg, atol: float = 1e-3) -> Optional[dict]:
    """Raise :class:`InputNormalisationError` if the data preprocessor of
    ``cfg`` differs from what its backbone weights were trained with.

    Reads ``model.data_preprocessor`` if the model sets one, else the
    top-level ``data_preprocessor`` (the Runner's rule). Returns the
    expected normalisation, or None when the weight source is unknown.
    """
    model = cfg.get('model', None) or {}
    backbone = model.get('backbone', None) or {}
    sources = _pretrained_sources(backbone)
    expected = expected_normalisation(sources[0]) if sources else None
    if expected is None:
        return None
    pre = model.get('data_preprocessor', None) or cfg.get(
        'data_preprocessor', None) or {}
    mean, std = pre.get('mean', None), pre.get('std', None)
    to_rgb = bool(pre.get('to_rgb', False) or pre.get('bgr_to_rgb', False))

    def close(a, b):
        return a is not None and len(a) == len(b) and all(
            abs(float(x) - y) <= atol for x, y in zip(a, b))

    if close(mean, expected['mean']) and close(std, expected['std']) \
            and to_rgb == expected['to_rgb']:
        return expected
    fmt = lambda v: '[' + ', '.join(f'{x:g}' for x in v) + ']'  # noqa: E731
    where = f' ({cfg.filename})' if getattr(cfg, 'filename', None) else ''
    raise InputNormalisationError(
        f'data_preprocessor{where} has mean={mean}, std={std}, '
        f'to_rgb={to_rgb}, but the backbone weights {sources[0]!r} were '
        f'trained with mean={fmt(expected["mean"])}, '
        f'std={fmt(expected["std"])}, RGB ({expected["origin"]}, in 0-255 '
        'pixel units). Set data_preprocessor = dict(mean='
        f'{fmt(expected["mean"])}, std={fmt(expected["std"])}, to_rgb=True) '
        'in the config (docs/model_zoo.md, "Input normalisation").')
