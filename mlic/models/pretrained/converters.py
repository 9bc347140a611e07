"""Backbone weights in public naming -> the names of the modules we build.

Each converter takes a flat state dict as published (torchvision, timm) and
returns it in the naming of the mmpretrain module the configs use. Keys a
backbone does not use (classifier heads) are dropped here; the loader in
:mod:`mlic.models.pretrained.loading` reports what is left over or missing.

Every converter has one signature, ``(state_dict, module) -> state_dict``
(``module``: the backbone the weights are for), and is registered in
:data:`mlic.registry.WEIGHT_CONVERTERS` under the name that
``init_cfg.format`` uses. Register your own the same way
(docs/new_components.md).

* ``torchvision_resnet``: torchvision ResNet -> mmpretrain ``ResNet``
  (same block names; the ``fc`` classifier is dropped).
* ``timm_convnext``: timm ConvNeXt / ConvNeXt V2 -> mmpretrain ``ConvNeXt``
  (``stem`` -> ``downsample_layers.0``, ``stages.i.downsample`` ->
  ``downsample_layers.i``, ``blocks.j.conv_dw`` -> ``j.depthwise_conv``,
  ``mlp.fc1/fc2`` -> ``pointwise_conv1/2``, ``mlp.grn.weight/bias`` ->
  ``grn.gamma/beta``, ``head.norm`` -> the final norm ``norm3``).
* ``timm_swin``: timm (>= 0.9) or official Swin -> mmpretrain
  ``SwinTransformer`` (``layers`` -> ``stages``, ``attn`` ->
  ``attn.w_msa``, ``mlp.fc1/fc2`` -> ``ffn.layers.0.0/1``, patch merging
  moved to the end of the previous stage and its 4C input channels
  re-ordered from concatenation order to ``nn.Unfold`` order, ``norm`` ->
  ``norm3``).
* ``timm``: a timm model wrapped by mmpretrain's ``TIMMBackbone``
  (prefix ``timm_model.``; the classifier is dropped).
* ``mmpretrain``: an mmpretrain classifier checkpoint (``backbone.``
  prefix stripped) or a bare backbone state dict.
"""
import re
from typing import Dict

import torch

from mlic.registry import WEIGHT_CONVERTERS

StateDict = Dict[str, torch.Tensor]


def _drop(state: StateDict, prefixes) -> StateDict:
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}


@WEIGHT_CONVERTERS.register_module(name='torchvision_resnet')
def torchvision_resnet(state: StateDict, module=None) -> StateDict:
    return _drop(state, ('fc.', ))


@WEIGHT_CONVERTERS.register_module(name='timm_convnext')
def timm_convnext(state: StateDict, module=None) -> StateDict:
    final_norm = final_norm_name(module)
    out = {}
    for key, value in state.items():
        new = key
        if key.startswith('head.fc.'):
            continue
        if key.startswith('head.norm.'):
            new = final_norm + key[len('head.norm'):]
        elif key.startswith('stem.'):
            new = 'downsample_layers.0.' + key[len('stem.'):]
        else:
            m = re.match(r'stages\.(\d+)\.downsample\.(.*)', key)
            if m:
                new = f'downsample_layers.{m[1]}.{m[2]}'
            m = re.match(r'stages\.(\d+)\.blocks\.(\d+)\.(.*)', key)
            if m:
                rest = m[3]
                rest = rest.replace('conv_dw.', 'depthwise_conv.')
                rest = rest.replace('mlp.fc1.', 'pointwise_conv1.')
                rest = rest.replace('mlp.fc2.', 'pointwise_conv2.')
                rest = rest.replace('mlp.grn.weight', 'grn.gamma')
                rest = rest.replace('mlp.grn.bias', 'grn.beta')
                new = f'stages.{m[1]}.{m[2]}.{rest}'
                # Small timm ConvNeXts use 1x1 convs (and 4-D GRN
                # parameters) where mmpretrain uses Linear layers.
                if 'pointwise_conv' in new and value.ndim == 4:
                    value = value.flatten(1)
                elif '.grn.' in new:
                    value = value.flatten()
        out[new] = value
    return out


def unfold_order(weight: torch.Tensor) -> torch.Tensor:
    """Patch-merging weights from concatenation to ``nn.Unfold`` order.

    Swin (official and timm) concatenates the 2x2 neighbours as
    ``[x(0,0), x(1,0), x(0,1), x(1,1)]`` (row offset, column offset), each
    C channels: input index ``(2*dw + dh)*C + c``. mmpretrain's
    ``PatchMerging`` uses ``nn.Unfold``: index ``4*c + 2*dh + dw``. Works
    on the last dimension (reduction weight) or a 1-D tensor (norm).
    """
    channels = weight.shape[-1] // 4
    index = torch.empty(4 * channels, dtype=torch.long)
    for dh in range(2):
        for dw in range(2):
            src = (2 * dw + dh) * channels + torch.arange(channels)
            dst = 4 * torch.arange(channels) + 2 * dh + dw
            index[dst] = src
    return weight[..., index]


@WEIGHT_CONVERTERS.register_module(name='timm_swin')
def timm_swin(state: StateDict, module=None) -> StateDict:
    final_norm = final_norm_name(module)
    # timm >= 0.9 keeps the patch merging at the start of layers.(i+1);
    # the official code (and older timm) at the end of layers.i.
    merging_first = 'layers.0.downsample.reduction.weight' not in state
    out = {}
    for key, value in state.items():
        if key.startswith('head.') or key.endswith(
                ('relative_position_index', 'attn_mask')):
            continue
        new = key
        if key.startswith('norm.'):
            new = final_norm + key[len('norm'):]
        elif key.startswith('patch_embed.proj.'):
            new = 'patch_embed.projection.' + key[len('patch_embed.proj.'):]
        m = re.match(r'layers\.(\d+)\.downsample\.(.*)', key)
        if m:
            stage = int(m[1]) - 1 if merging_first else int(m[1])
            new = f'stages.{stage}.downsample.{m[2]}'
            value = unfold_order(value)
        m = re.match(r'layers\.(\d+)\.blocks\.(\d+)\.(.*)', key)
        if m:
            rest = m[3]
            rest = re.sub(r'^attn\.', 'attn.w_msa.', rest)
            rest = rest.replace('mlp.fc1.', 'ffn.layers.0.0.')
            rest = rest.replace('mlp.fc2.', 'ffn.layers.1.')
            new = f'stages.{m[1]}.blocks.{m[2]}.{rest}'
        out[new] = value
    return out


@WEIGHT_CONVERTERS.register_module(name='timm')
def timm(state: StateDict, module=None) -> StateDict:
    state = _drop(state, ('head.fc.', 'fc.', 'classifier.'))
    return {('' if k.startswith('timm_model.') else 'timm_model.') + k: v
            for k, v in state.items()}


@WEIGHT_CONVERTERS.register_module(name='mmpretrain')
def mmpretrain(state: StateDict, module=None) -> StateDict:
    if any(k.startswith('backbone.') for k in state):
        return {k[len('backbone.'):]: v
                for k, v in state.items() if k.startswith('backbone.')}
    return dict(state)


def detect_format(state: StateDict, module: torch.nn.Module) -> str:
    """The naming of ``state`` for a backbone of ``module``'s type."""
    if any(k.startswith('backbone.') for k in state):
        return 'mmpretrain'
    name = type(module).__name__
    if name == 'TIMMBackbone':
        return 'timm'
    if name == 'ConvNeXt' and 'stem.0.weight' in state:
        return 'timm_convnext'
    if name == 'SwinTransformer' and 'patch_embed.proj.weight' in state:
        return 'timm_swin'
    if name.startswith('ResNet') and 'fc.weight' in state:
        return 'torchvision_resnet'
    return 'mmpretrain'


def final_norm_name(module) -> str:
    """The name of the norm after the last stage (mmpretrain: norm<i>)."""
    indices = getattr(module, 'out_indices', (3, )) if module is not None \
        else (3, )
    last = max(indices) if len(indices) else 3
    return f'norm{last}'


def convert_state_dict(state: StateDict, module: torch.nn.Module,
                       fmt: str = 'auto'):
    """Return ``(converted_state, format_used)``."""
    if fmt == 'auto':
        fmt = detect_format(state, module)
    converter = WEIGHT_CONVERTERS.get(fmt)
    if converter is None:
        raise ValueError(f'unknown checkpoint format {fmt!r}; expected '
                         f"'auto' or one of "
                         f'{sorted(WEIGHT_CONVERTERS.module_dict)}')
    return converter(state, module), fmt
