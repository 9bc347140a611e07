"""The IRPE Transformer encoder neck (docs/method.md sections 1-2)."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from torch import Tensor

from mlic.registry import MODELS
from ..layers import ImageRPE, IRPEEncoderLayer

PAPER_RPE = dict(
    method='product', mode='contextual', ratio=1.9, shared_head=True, on='qkv')


@MODELS.register_module()
class IRPETransformerEncoder(BaseModule):
    """1x1 projection + learned position embedding + Transformer encoder.

    Takes the backbone's last feature map (B, d0, H', W') and returns the
    encoded tokens laid out again as a map, ``((B, d_model, H', W'), )``: the
    grid size travels with the tensor, the decoder head flattens it
    (row-major, token i = row * W' + col), and a visualiser can use it as is.

    The three encoder ablations of the paper (Table IV) are one argument
    apart: ``rpe=dict(...)`` (default: the paper's IRPE, see
    :data:`PAPER_RPE`), ``rpe=None`` (standard encoder) and
    ``num_layers=0`` (no encoder: the projected, position-embedded features
    go straight to the decoder).

    Args:
        in_channels (int): d0, channels of the backbone output.
        embed_dims (int): d_model.
        num_heads (int): attention heads.
        num_layers (int): encoder layers (paper: 1).
        feedforward_channels (int): FFN hidden size.
        dropout (float): dropout in the encoder layers.
        activation (str): FFN activation, 'relu' or 'gelu'.
        norm_first (bool): pre-norm layers (default post-norm).
        feat_size (int | tuple): (H', W') the position embedding is created
            for, e.g. 14 for 448 px with a stride-32 backbone. A different
            input size is served by bicubic resizing of the embedding
            (logged once).
        rpe (dict | None): :class:`~mlic.models.layers.ImageRPE` arguments.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int = 2048,
                 num_heads: int = 4,
                 num_layers: int = 1,
                 feedforward_channels: int = 8192,
                 dropout: float = 0.1,
                 activation: str = 'relu',
                 norm_first: bool = False,
                 feat_size: Union[int, Sequence[int]] = 14,
                 rpe: Optional[dict] = PAPER_RPE,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'IRPETransformerEncoder: embed_dims (d_model)='
                             f'{embed_dims} is not divisible by num_heads='
                             f'{num_heads}')
        if num_layers < 0:
            raise ValueError(
                f'IRPETransformerEncoder: num_layers={num_layers} < 0')
        if isinstance(feat_size, int):
            feat_size = (feat_size, feat_size)
        self.feat_size = tuple(int(s) for s in feat_size)
        if len(self.feat_size) != 2 or min(self.feat_size) < 1:
            raise ValueError(f'IRPETransformerEncoder: feat_size={feat_size} '
                             'must be an int or (height, width)')
        if rpe is not None:
            rpe = dict(rpe)
            # Validate once here so a bad string fails at build time.
            ImageRPE(num_heads, embed_dims // num_heads, **rpe)
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.rpe_cfg = rpe
        self.input_proj = nn.Conv2d(in_channels, embed_dims, kernel_size=1)
        self.pos_embed = nn.Parameter(
            torch.zeros(1, embed_dims, *self.feat_size))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.layers = nn.ModuleList([
            IRPEEncoderLayer(
                embed_dims,
                num_heads,
                feedforward_channels,
                dropout=dropout,
                activation=activation,
                norm_first=norm_first,
                rpe=rpe) for _ in range(num_layers)
        ])
        # Pre-norm stacks need a final LayerNorm; post-norm ends normalised.
        self.final_norm = nn.LayerNorm(embed_dims) if (
            norm_first and num_layers) else nn.Identity()
        self._resize_logged = set()

    def position_embedding(self, height: int, width: int) -> Tensor:
        """(1, d_model, height, width): learned, bicubic-resized if needed."""
        if (height, width) == self.feat_size:
            return self.pos_embed
        key = (height, width)
        if key not in self._resize_logged:
            self._resize_logged.add(key)
            MMLogger.get_current_instance().info(
                f'IRPETransformerEncoder: feature map {height}x{width} differs '
                f'from feat_size {self.feat_size[0]}x{self.feat_size[1]}; '
                'resizing the position embedding (bicubic)')
        return F.interpolate(
            self.pos_embed, size=(height, width), mode='bicubic',
            align_corners=False)

    def forward(self, inputs: Union[Tensor, Tuple[Tensor, ...]]):
        x = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'IRPETransformerEncoder: expected a (B, {self.in_channels}, '
                f"H, W) feature map (in_channels={self.in_channels}) but got "
                f'shape {tuple(x.shape)}; set in_channels to the backbone\'s '
                'output channels')
        b, _, h, w = x.shape
        x = self.input_proj(x)
        x = x + self.position_embedding(h, w).to(x.dtype)
        tokens = x.flatten(2).transpose(1, 2)  # (B, L, C), row-major
        for layer in self.layers:
            tokens = layer(tokens, h, w)
        tokens = self.final_norm(tokens)
        return (tokens.transpose(1, 2).reshape(b, self.embed_dims, h, w), )
