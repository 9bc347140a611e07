"""Pretrained backbone weights: where they come from and how they load.

A config names a public source; users without network access (or with
their own copy) point it at a local file. Sources:

* a local path: ``/data/weights/resnet101-63fe2227.pth``;
* an http(s) URL (torchvision, OpenMMLab): looked up first as
  ``$MLIC_PRETRAINED_DIR/<file name>`` and in torch's hub cache
  (``$TORCH_HOME/hub/checkpoints``), downloaded there otherwise;
* one of mmengine's checkpoint schemes (``torchvision://resnet50``,
  ``open-mmlab://...``, ``s3://...``, a scheme a plugin registered with
  ``CheckpointLoader.register_scheme``): read by mmengine's loader, so
  configs written for mmengine's ``Pretrained`` keep working;
* a Hugging Face hub id of a timm model, ``timm/<name>`` (or
  ``hf-hub:timm/<name>``): looked up first as
  ``$MLIC_PRETRAINED_DIR/<name>.safetensors`` (``.pth``, ``.bin``), then in
  the Hugging Face cache, downloaded otherwise.

The file is read with ``torch.load(weights_only=True)`` (or safetensors),
converted to the module's naming (:mod:`.checkpoint_converters`), and
loaded with a report of unexpected and missing keys. Any failure to obtain
the file is one :class:`PretrainedWeightsError` that names the source and
says how to supply a local file.

The initializer is registered as ``Pretrained`` in mlic's scope: mmengine
(and mmpretrain's backbones) treat an ``init_cfg`` of type ``'Pretrained'``
specially - it is applied after every other initialisation - so the name
must stay. It accepts mmengine's arguments (``checkpoint``, ``prefix``,
``map_location``) and adds ``format`` and ``strict``.
"""
import os
import os.path as osp
from typing import Optional

import torch
from huggingface_hub import hf_hub_download
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from mmengine.runner.checkpoint import CheckpointLoader
from safetensors.torch import load_file

from mlic.fileio.checkpoint_allowlist import allow_mmengine_checkpoints
from mlic.registry import WEIGHT_INITIALIZERS
from .converters import convert_state_dict

ENV_DIR = 'MLIC_PRETRAINED_DIR'
HF_PREFIXES = ('hf-hub:', 'timm/')
# Buffers every module recomputes; a checkpoint need not carry them.
DERIVED_KEYS = ('relative_position_index', 'num_batches_tracked', 'attn_mask')


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights that cannot be found, read or loaded."""


def _how_to_supply(source: str, name: str) -> str:
    return (f'To use a local copy, either put it at '
            f'${ENV_DIR}/{name} (currently '
            f'{os.environ.get(ENV_DIR, "unset")}) or pass '
            f'--cfg-options model.backbone.init_cfg.checkpoint=/path/to/file '
            f'(see docs/model_zoo.md). Source: {source}')


def _hf_repo(source: str) -> str:
    return source[len('hf-hub:'):] if source.startswith('hf-hub:') else source


def _resolve_url(source: str) -> str:
    name = osp.basename(source.split('?')[0])
    candidates = []
    if os.environ.get(ENV_DIR):
        candidates.append(osp.join(os.environ[ENV_DIR], name))
    hub_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    candidates.append(osp.join(hub_dir, name))
    for path in candidates:
        if osp.isfile(path):
            return path
    target = candidates[-1]
    rank, world = get_dist_info()
    error = None
    # One process downloads; the others wait and read its file.
    if rank == 0:
        try:
            os.makedirs(hub_dir, exist_ok=True)
            torch.hub.download_url_to_file(source, target, progress=False)
        except Exception as e:  # URLError, HTTPError, OSError, ...
            error = e
    if world > 1:
        barrier()
    if error is not None or not osp.isfile(target):
        raise PretrainedWeightsError(
            f'could not download pretrained weights from {source} '
            f'({type(error).__name__ if error else "missing"}: {error}). '
            + _how_to_supply(source, name)) from None
    return target


def _resolve_hf(source: str) -> str:
    repo = _hf_repo(source)
    short = repo.split('/', 1)[-1]
    if os.environ.get(ENV_DIR):
        for ext in ('.safetensors', '.pth', '.bin'):
            path = osp.join(os.environ[ENV_DIR], short + ext)
            if osp.isfile(path):
                return path
    errors = []
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; read it now.
    offline = os.environ.get('HF_HUB_OFFLINE', '0').lower() in ('1', 'true')
    for local_only in (True, ) if offline else (True, False):
        for filename in ('model.safetensors', 'pytorch_model.bin'):
            try:
                return hf_hub_download(
                    repo, filename, local_files_only=local_only)
            except Exception as e:
                errors.append(f'{filename}: {type(e).__name__}')
    raise PretrainedWeightsError(
        f'could not fetch pretrained weights {source} from the Hugging Face '
        f'hub ({"; ".join(errors[-2:])}). '
        + _how_to_supply(source, short + '.safetensors'))


def _mmengine_scheme(source: str) -> bool:
    return '://' in source and not source.startswith(('http://', 'https://'))


def resolve_checkpoint(source: str) -> str:
    """A local file for ``source`` (path, URL or ``timm/<name>``); sources
    in one of mmengine's schemes are returned as they are."""
    if not isinstance(source, str) or not source:
        raise PretrainedWeightsError(
            f'pretrained weights source must be a non-empty string, got '
            f'{source!r}')
    if _mmengine_scheme(source):
        return source
    if source.startswith(('http://', 'https://')):
        return _resolve_url(source)
    if source.startswith(HF_PREFIXES):
        return _resolve_hf(source)
    path = osp.expanduser(source)
    if not osp.isfile(path):
        raise PretrainedWeightsError(
            f'pretrained weights file not found: {source}. Point '
            f'model.backbone.init_cfg.checkpoint at an existing file, or at '
            f'the public URL / timm name listed in docs/model_zoo.md.')
    return path


def read_state_dict(path: str, map_location='cpu') -> dict:
    """A flat ``name -> tensor`` dict from a checkpoint file (safely)."""
    try:
        if _mmengine_scheme(path):
            state = CheckpointLoader.load_checkpoint(
                path, map_location=map_location)
        elif path.endswith('.safetensors'):
            state = load_file(path, device=str(map_location))
        else:
            allow_mmengine_checkpoints()
            state = torch.load(path, map_location=map_location,
                               weights_only=True)
    except Exception as e:
        raise PretrainedWeightsError(
            f'cannot read pretrained weights file {path}: '
            f'{type(e).__name__}: {e}') from None
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state:
        raise PretrainedWeightsError(
            f'{path} does not hold a state dict of tensors')
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return state


def load_pretrained(module: torch.nn.Module,
                    checkpoint: str,
                    fmt: str = 'auto',
                    prefix: Optional[str] = None,
                    strict: bool = True,
                    map_location='cpu') -> dict:
    """Load backbone weights into ``module``; returns the key report.

    Raises :class:`PretrainedWeightsError` when the file cannot be obtained,
    a tensor has the wrong shape, or (with ``strict``) one of the module's
    weights is not in the file; unexpected keys are only reported.
    """
    path = resolve_checkpoint(checkpoint)
    state = read_state_dict(path, map_location)
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix)}
        if not state:
            raise PretrainedWeightsError(
                f'no key of {path} starts with prefix {prefix!r}')
    state, fmt = convert_state_dict(state, module, fmt)
    own = module.state_dict()
    mismatched = [f'{k}: file {tuple(v.shape)} vs model '
                  f'{tuple(own[k].shape)}'
                  for k, v in state.items()
                  if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if mismatched:
        raise PretrainedWeightsError(
            f'pretrained weights {path} (format {fmt}) do not fit '
            f'{type(module).__name__}: ' + '; '.join(mismatched[:5])
            + (f' (+{len(mismatched) - 5} more)' if len(mismatched) > 5
               else ''))
    unexpected = sorted(k for k in state if k not in own)
    missing = sorted(k for k in own if k not in state)
    missing_weights = [k for k in missing if not k.endswith(DERIVED_KEYS)]
    if strict and missing_weights:
        raise PretrainedWeightsError(
            f'pretrained weights {path} (format {fmt}) lack '
            f'{len(missing_weights)} of {type(module).__name__}\'s tensors, '
            f'e.g. {missing_weights[:5]}; pass format=... if the file uses '
            f'another naming, or strict=False to load it anyway')
    with torch.no_grad():
        for key, value in state.items():
            if key in own:
                own[key].copy_(value.to(own[key].dtype))
    report = dict(path=path, format=fmt, loaded=len(state) - len(unexpected),
                  unexpected=unexpected, missing=missing)
    print_log(
        f'Loaded {report["loaded"]} tensors into {type(module).__name__} from '
        f'{path} (source {checkpoint}, format {fmt}); unexpected keys '
        f'ignored: {len(unexpected)} {unexpected[:5]}; missing: '
        f'{len(missing)} {missing[:5]}', logger='current')
    return report


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class PretrainedWeights:
    """``init_cfg=dict(type='Pretrained', checkpoint=...)`` for backbones.

    Args:
        checkpoint (str): local path, URL or ``timm/<name>`` (module doc).
        prefix (str, optional): use only keys with this prefix (stripped).
        map_location: where tensors are read to.
        format (str): ``'auto'`` (from the keys and the module type) or one
            of :data:`mlic.registry.WEIGHT_CONVERTERS`.
        strict (bool): fail when a weight of the module is not in the file.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                 map_location='cpu', format: str = 'auto',
                 strict: bool = True):
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location
        self.format = format
        self.strict = strict
        self.wholemodule = False

    def __call__(self, module: torch.nn.Module) -> None:
        report = load_pretrained(module, self.checkpoint, self.format,
                                 self.prefix, self.strict, self.map_location)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info(report))

    def _get_init_info(self, report=None) -> str:
        where = report['path'] if report else self.checkpoint
        return f'{self.__class__.__name__}: load from {where}'
