"""Transformer layers: the IRPE encoder layer and the label-query decoder
layer, composed of the blocks beside them."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from .attention import IRPEAttention, MultiheadAttentionWithMaps
from .ffn import feedforward


class IRPEEncoderLayer(nn.Module):
    """Transformer encoder layer: self-attention (with iRPE) + FFN.

    Post-norm by default (``x = LN(x + Drop(Attn(x)))``, as Query2Label's
    encoder), pre-norm with ``norm_first=True``.

    Args:
        embed_dims, num_heads: d_model and heads.
        feedforward_channels (int): hidden size of the FFN.
        dropout (float): dropout on the attention weights, after each
            sub-block and inside the FFN.
        activation (str): 'relu' or 'gelu'.
        norm_first (bool): pre-norm.
        rpe (dict, optional): iRPE settings, see :class:`ImageRPE`.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 dropout: float = 0.1,
                 activation: str = 'relu',
                 norm_first: bool = False,
                 rpe: Optional[dict] = None):
        super().__init__()
        self.attn = IRPEAttention(
            embed_dims, num_heads, attn_drop=dropout, rpe=rpe)
        self.ffn = feedforward(embed_dims, feedforward_channels, dropout,
                               activation)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        if self.norm_first:
            x = x + self.drop1(self.attn(self.norm1(x), height, width))
            return x + self.drop2(self.ffn(self.norm2(x)))
        x = self.norm1(x + self.drop1(self.attn(x, height, width)))
        return self.norm2(x + self.drop2(self.ffn(x)))


class QueryDecoderLayer(nn.Module):
    """[optional self-attention] -> cross-attention -> FFN, post-norm.

    Args:
        embed_dims, num_heads, feedforward_channels, dropout, activation:
            the usual Transformer sizes.
        self_attn (bool): self-attention among the label queries (the
            paper's decoder has none).
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 feedforward_channels: int, dropout: float = 0.1,
                 activation: str = 'relu', self_attn: bool = False):
        super().__init__()
        self.self_attn = MultiheadAttentionWithMaps(
            embed_dims, num_heads, dropout) if self_attn else None
        self.norm_sa = nn.LayerNorm(embed_dims) if self_attn else None
        self.cross_attn = MultiheadAttentionWithMaps(embed_dims, num_heads,
                                                     dropout)
        self.norm_ca = nn.LayerNorm(embed_dims)
        self.ffn = feedforward(embed_dims, feedforward_channels, dropout,
                               activation)
        self.norm_ffn = nn.LayerNorm(embed_dims)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: Tensor, memory: Tensor,
                query_pos: Optional[Tensor] = None,
                need_weights: bool = False):
        def with_pos(x):
            return x if query_pos is None else x + query_pos

        if self.self_attn is not None:
            q = with_pos(query)
            out, _ = self.self_attn(q, q, query)
            query = self.norm_sa(query + self.dropout(out))
        out, weights = self.cross_attn(
            with_pos(query), memory, memory, need_weights=need_weights)
        query = self.norm_ca(query + self.dropout(out))
        query = self.norm_ffn(query + self.dropout(self.ffn(query)))
        return query, weights
