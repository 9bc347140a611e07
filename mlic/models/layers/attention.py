"""Attention blocks: self-attention with iRPE (encoder), cross-attention
that can return its maps (decoder), and their shared float32 softmax."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .irpe import ImageRPE
from .precision import at_least_float32


def softmax_fp32(logits: Tensor) -> Tensor:
    """Softmax over the last dim in at least float32 (float64 stays float64),
    also under autocast: the one rule of every attention in mlic."""
    return at_least_float32(logits).softmax(dim=-1)


def irpe_attention(q: Tensor,
                   k: Tensor,
                   v: Tensor,
                   rpe: Optional[ImageRPE] = None,
                   height: Optional[int] = None,
                   width: Optional[int] = None,
                   dropout_p: float = 0.0) -> Tensor:
    """Scaled dot-product attention with the iRPE terms of docs/method.md section 2.

    Args:
        q, k, v: (B, heads, L, d_head), L = height * width.
        rpe: the tables (None: plain attention).
        height, width: the token grid (needed with ``rpe``).
        dropout_p: attention dropout, applied to a_ij before both the v and
            the rV terms (as in the reference); pass 0 in eval mode.

    Without a value term, the q/k terms become an additive mask of
    ``F.scaled_dot_product_attention`` (fused kernels). With one, the
    weights are formed explicitly with the softmax in float32 (also under
    autocast) and the value term is the bucket scatter of
    :meth:`ImageRPE.value_term`. Returns (B, heads, L, d_head).
    """
    scale = q.shape[-1]**-0.5
    if rpe is not None and (height is None or width is None
                            or height * width != q.shape[-2]):
        raise ValueError(f'irpe_attention: grid {height}x{width} does not '
                         f'match the {q.shape[-2]} tokens')
    if rpe is None or not rpe.has_v:
        mask = None
        if rpe is not None and rpe.has_qk:
            mask = rpe.qk_term(q * scale, k * scale, height, width).to(q.dtype)
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p)
    # Softmax in at least float32 (float64 inputs stay float64).
    acc = torch.promote_types(q.dtype, torch.float32)
    logits = torch.matmul(q * scale, k.transpose(-1, -2)).to(acc)
    if rpe.has_qk:
        logits = logits + rpe.qk_term(q * scale, k * scale, height,
                                      width).to(acc)
    attn = softmax_fp32(logits)
    if dropout_p > 0:
        attn = F.dropout(attn, p=dropout_p, training=True)
    out = torch.matmul(attn.to(v.dtype), v)
    return out + rpe.value_term(attn, height, width).to(out.dtype)


class IRPEAttention(nn.Module):
    """Multi-head self-attention block: qkv projection, attention, output.

    Args:
        embed_dims (int): d_model.
        num_heads (int): heads; must divide ``embed_dims``.
        attn_drop (float): attention dropout.
        proj_drop (float): dropout after the output projection.
        rpe (dict, optional): :class:`ImageRPE` arguments (method, mode,
            ratio, shared_head, on); None gives standard attention.
        qkv_bias (bool): biases of the projections.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 rpe: Optional[dict] = None,
                 qkv_bias: bool = True):
        super().__init__()
        if num_heads < 1 or embed_dims % num_heads:
            raise ValueError(f'IRPEAttention: d_model={embed_dims} is not '
                             f'divisible by num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dim = embed_dims // num_heads
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)
        self.rpe = None if rpe is None else ImageRPE(
            num_heads, self.head_dim, **rpe)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        """x: (B, L, C) tokens of an height x width grid (row-major)."""
        b, length, c = x.shape
        qkv = self.qkv(x).view(b, length, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = irpe_attention(
            q, k, v, self.rpe, height, width,
            dropout_p=self.attn_drop if self.training else 0.0)
        out = out.transpose(1, 2).reshape(b, length, c)
        return self.proj_drop(self.proj(out))


class MultiheadAttentionWithMaps(nn.Module):
    """Multi-head attention (query, key/value) that can return its weights.

    In training, and with ``need_weights=True``, the weights are formed
    explicitly (softmax in float32; the maps a caller asks for are the very
    weights the forward pass used). In eval mode without maps the same
    attention runs as one ``F.scaled_dot_product_attention`` call (fused
    kernels, float32 accumulation), checked against the explicit path in
    tests/test_models/test_speed_paths.py. Training keeps the explicit
    path: its dropout draws the same random numbers as always, so a
    training run's numbers do not move.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 attn_drop: float = 0.0):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'd_model={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.num_heads = num_heads
        self.head_dim = embed_dims // num_heads
        self.q_proj = nn.Linear(embed_dims, embed_dims)
        self.k_proj = nn.Linear(embed_dims, embed_dims)
        self.v_proj = nn.Linear(embed_dims, embed_dims)
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self.attn_drop = attn_drop

    def _split(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                need_weights: bool = False):
        q = self._split(self.q_proj(query))
        k = self._split(self.k_proj(key))
        v = self._split(self.v_proj(value))
        if not need_weights and not self.training:
            return self._merge(F.scaled_dot_product_attention(q, k, v)), None
        q = q * self.head_dim**-0.5
        attn = softmax_fp32(torch.matmul(q, k.transpose(-1, -2)))
        weights = attn.mean(dim=1) if need_weights else None
        if self.training and self.attn_drop > 0:
            attn = F.dropout(attn, p=self.attn_drop)
        return self._merge(torch.matmul(attn.to(v.dtype), v)), weights

    def _merge(self, out: Tensor) -> Tensor:
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, -1))
