"""2D image relative position encoding (iRPE, Wu et al., ICCV 2021).

docs/method.md section 2. Token i sits at (row_i, col_i) of an H x W grid
(row-major). Relative positions p_i - p_j are mapped to buckets b(i, j) by
:func:`get_bucket_ids_2d`; :class:`ImageRPE` holds the learnable bucket
tables and computes the three terms of

    e_ij = s * (q_i . k_j + q_i . rK[b(i,j)] + k_j . rQ[b(j,i)])
    z_i  = sum_j a_ij * (v_j + rV[b(i,j)])

without ever building an (L, L, d) tensor: the q/k terms are an
(L x d) @ (d x nb) product followed by a gather, and the value term
scatter-adds the attention weights into buckets, (L x nb) per head, and
multiplies by the table.
"""
import functools
import math
from typing import List, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from .precision import at_least_float32

METHODS = ('product', 'cross', 'euc', 'quant')
MODES = ('contextual', 'bias')


def piecewise_index(x: Tensor, alpha: float, beta: float,
                    gamma: float) -> Tensor:
    """The bucket function g of docs/method.md section 2, element-wise.

    ``round(x)`` for ``|x| <= alpha``; beyond that the offset grows
    logarithmically and saturates at ``beta``; the result is truncated to an
    integer (so ``beta = 3.8`` gives at most 3). round is half-to-even.
    """
    x = x.to(torch.float64)
    absx = x.abs()
    inside = absx <= alpha
    safe = torch.where(inside, torch.full_like(absx, alpha), absx)
    far = alpha + torch.log(safe / alpha) / math.log(gamma / alpha) * (
        beta - alpha)
    far = torch.sign(x) * torch.clamp(torch.round(far), max=beta)
    out = torch.where(inside, torch.round(x), far)
    return out.trunc().to(torch.long)


def _check_ratio(ratio):
    if not isinstance(ratio, (int, float)) or not ratio > 0:
        raise ValueError(f'IRPE: ratio={ratio!r} must be a number > 0')


def num_buckets_per_table(method: str, ratio: float) -> int:
    """Size of one bucket table: S*S for 'product', S otherwise."""
    if method not in METHODS:
        raise ValueError(
            f'IRPE: unknown method {method!r}; choose one of {METHODS}')
    _check_ratio(ratio)
    side = 2 * int(2 * ratio) + 1
    return side * side if method == 'product' else side


@functools.lru_cache(maxsize=128)
def _bucket_ids_cached(method: str, ratio: float, height: int, width: int,
                       device: str) -> Tuple[Tensor, ...]:
    alpha, beta, gamma = ratio, 2 * ratio, 8 * ratio
    shift = int(beta)
    side = 2 * shift + 1
    rows = torch.arange(height).repeat_interleave(width)
    cols = torch.arange(width).repeat(height)
    dr = (rows[:, None] - rows[None, :]).to(torch.float64)
    dc = (cols[:, None] - cols[None, :]).to(torch.float64)

    def g(x):
        return piecewise_index(x, alpha, beta, gamma)

    if method == 'product':
        ids = ((g(dr) + shift) * side + (g(dc) + shift), )
    elif method == 'cross':
        ids = (g(dr) + shift, g(dc) + shift)
    elif method == 'euc':
        ids = (g(torch.round(torch.sqrt(dr * dr + dc * dc))) + shift, )
    else:  # 'quant': the reference feeds the squared distance
        ids = (g(dr * dr + dc * dc) + shift, )
    return tuple(t.to(device).contiguous() for t in ids)


def get_bucket_ids_2d(method: str,
                      height: int,
                      width: int,
                      ratio: float = 1.9,
                      device=None) -> Tuple[Union[Tensor, Tuple[Tensor,
                                                                Tensor]], int]:
    """Bucket ids b(i, j) of the relative positions on a height x width grid.

    Args:
        method: 'product' (default of the reference), 'cross', 'euc', 'quant'.
        height, width: the grid; tokens are numbered row-major.
        ratio: r; alpha = r, beta = 2r, gamma = 8r.
        device: where the ids live.

    Returns:
        ``(ids, num_buckets)``: ``ids`` an (L, L) long tensor (for 'cross' a
        pair of them, rows then columns) and the size of one table. Results
        are cached per (method, ratio, height, width, device) and shared:
        do not modify them in place.
    """
    num = num_buckets_per_table(method, ratio)
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f'IRPE: grid {height}x{width} must be at least 1x1')
    ids = _bucket_ids_cached(method, float(ratio), int(height), int(width),
                             str(torch.device(device or 'cpu')))
    return (ids if method == 'cross' else ids[0]), num


def _parse_on(on: str) -> Tuple[str, ...]:
    if not isinstance(on, str) or not on or set(on) - set('qkv') or len(
            set(on)) != len(on):
        raise ValueError(f"IRPE: on={on!r} must name q, k and/or v, e.g. 'k', "
                         "'qk' or 'qkv'")
    return tuple(c for c in 'qkv' if c in on)


class ImageRPE(nn.Module):
    """Learnable iRPE tables for one attention layer (docs/method.md section 2).

    Args:
        num_heads (int): attention heads.
        head_dim (int): channels per head (d_head).
        method (str): bucket method, 'product' | 'cross' | 'euc' | 'quant'.
        mode (str): 'contextual' (a d_head vector per bucket, dotted with q
            or k) or 'bias' (a learnable scalar per bucket; q/k only).
        ratio (float): bucket ratio r (1.9 gives 7 x 7 product buckets).
        shared_head (bool): one table for all heads (the reference default)
            or one per head.
        on (str): which of q, k, v get IRPE: 'k', 'qk', 'qkv' (the paper's)
            or any other combination of the three letters.

    Tables are named ``table_q`` / ``table_k`` / ``table_v`` with shape
    (heads, num_buckets, head_dim) in contextual mode and (heads,
    num_buckets) in bias mode (heads = 1 when shared). For 'cross' the row
    and column tables are stored one after the other (2 S entries).
    """

    def __init__(self,
                 num_heads: int,
                 head_dim: int,
                 method: str = 'product',
                 mode: str = 'contextual',
                 ratio: float = 1.9,
                 shared_head: bool = True,
                 on: str = 'qkv'):
        super().__init__()
        per_table = num_buckets_per_table(method, ratio)
        if mode not in MODES:
            raise ValueError(
                f'IRPE: unknown mode {mode!r}; choose one of {MODES}')
        self.on = _parse_on(on)
        if mode == 'bias' and 'v' in self.on:
            raise ValueError(
                f"IRPE: mode='bias' applies to q/k only, but on={on!r} "
                "includes v; use mode='contextual' or drop 'v'")
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.method = method
        self.mode = mode
        self.ratio = float(ratio)
        self.shared_head = shared_head
        self.per_table = per_table
        self.num_buckets = per_table * (2 if method == 'cross' else 1)
        heads = 1 if shared_head else num_heads
        shape = (heads, self.num_buckets) + (
            (head_dim, ) if mode == 'contextual' else ())
        for name in self.on:
            table = nn.Parameter(torch.empty(shape))
            nn.init.trunc_normal_(table, std=0.02)
            setattr(self, f'table_{name}', table)

    @property
    def has_qk(self) -> bool:
        return 'q' in self.on or 'k' in self.on

    @property
    def has_v(self) -> bool:
        return 'v' in self.on

    def extra_repr(self) -> str:
        return (f"method='{self.method}', mode='{self.mode}', "
                f"ratio={self.ratio}, shared_head={self.shared_head}, "
                f"on='{''.join(self.on)}', num_buckets={self.num_buckets}")

    def index_sets(self, height: int, width: int, device) -> List[Tensor]:
        """(L, L) bucket ids into the stored tables, one per table part."""
        if self.method == 'cross':
            return list(_cross_index_sets(self.ratio, int(height), int(width),
                                          str(torch.device(device))))
        ids, _ = get_bucket_ids_2d(self.method, height, width, self.ratio,
                                   device)
        return [ids]

    def qk_term(self, q: Tensor, k: Tensor, height: int,
                width: int) -> Tensor:
        """The additive logit term: s q_i.rK[b(i,j)] + s k_j.rQ[b(j,i)].

        ``q`` and ``k`` are (B, heads, L, d) and already multiplied by the
        scale s (as the reference does); bias mode ignores them and returns
        bK[b(i,j)] + bQ[b(j,i)]. Returns (B or 1, heads, L, L), in at least
        float32: the gather (whose backward is a scatter-add, atomic on GPUs)
        runs in float32 also under fp16/bf16 autocast, where half-precision
        atomics are slow and lossy.
        """
        sets = self.index_sets(height, width, q.device)
        term = None
        for name, x, transpose in (('k', q, False), ('q', k, True)):
            if name not in self.on:
                continue
            table = getattr(self, f'table_{name}')
            if self.mode == 'contextual':
                # (B, h, L, d) @ (h|1, d, nb) -> (B, h, L, nb), then gather.
                proj = torch.matmul(x, table.to(x.dtype).transpose(-1, -2))
                proj = at_least_float32(proj)
                shape = proj.shape[:-1] + (proj.shape[-2], )
                part = sum(
                    torch.gather(proj, -1, ids.expand(shape)) for ids in sets)
            else:
                part = sum(table[:, ids] for ids in sets).unsqueeze(0)
            if transpose:
                part = part.transpose(-1, -2)
            term = part if term is None else term + part
        return term

    def value_term(self, attn: Tensor, height: int, width: int) -> Tensor:
        """sum_j a_ij rV[b(i,j)] for attention weights (B, h, L, L).

        The weights are scatter-added into buckets, (B, h, L, nb), in at
        least float32 (never a half-precision atomic scatter), and multiplied
        by the table: no (L, L, d) tensor is built.
        """
        sets = self.index_sets(height, width, attn.device)
        b, h, length, _ = attn.shape
        attn = at_least_float32(attn)
        pooled = attn.new_zeros(b, h, length, self.num_buckets)
        for ids in sets:
            pooled = pooled.scatter_add(-1, ids.expand(attn.shape), attn)
        table = self.table_v
        return torch.matmul(pooled.to(table.dtype), table)


@functools.lru_cache(maxsize=128)
def _cross_index_sets(ratio, height, width, device):
    """Row ids and column ids shifted past the row table (cross method)."""
    (rows, cols), num = get_bucket_ids_2d('cross', height, width, ratio,
                                          device)
    return rows, (cols + num).contiguous()
