"""The label-query decoder head (docs/method.md section 1)."""
import numbers
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.structures import label_to_onehot
from torch import Tensor

from mlic.structures.label_states import (IGNORED, UNKNOWN, has_states,
                                          has_unknowns,
                                          ignored_classes, label_states)
from mlic.registry import MODELS
from ..layers import QueryDecoderLayer
from ..layers.precision import at_least_float32


@MODELS.register_module()
class QueryDecoderHead(MultiLabelClsHead):
    """Label queries cross-attend to the encoder tokens; group-wise linear.

    Input: the neck's output, ``((B, d_model, H', W'), )`` (tokens in map
    layout). Each decoder layer: [optional self-attention among queries] ->
    cross-attention (queries to the H' W' tokens) -> FFN, each with residual,
    dropout and LayerNorm. Logit of class c: ``<w_c, q_c> + b_c`` for the
    final query q_c (group-wise linear). Loss and prediction follow
    MMPretrain's ``MultiLabelClsHead`` (sigmoid scores, ``thr``/``topk``).

    Args:
        num_classes (int): C.
        in_channels (int): d_model; must equal the neck's ``embed_dims``.
        num_layers (int): decoder layers (paper: 2).
        num_heads (int): attention heads.
        feedforward_channels (int): FFN hidden size.
        dropout (float): dropout everywhere in the decoder.
        activation (str): FFN activation.
        self_attn (bool | list[bool]): self-attention among label queries,
            for all layers or per layer (``[False, True]``: second layer
            only). Default False, the paper's decoder.
        query_mode (str): ``'paper'`` (default): the label embeddings are
            the first layer's queries. ``'q2l'`` (Query2Label): the queries
            start at zero and the label embedding is re-added as a query
            position in every layer.
        num_queries (int, optional): K label queries for C classes, the
            group decoding of ML-Decoder (Ridnik et al., 2023): query k
            decodes the contiguous group of g = ceil(C / K) classes
            ``k*g ... k*g+g-1`` and each class keeps its own weight vector
            and bias (logit of class c: ``<w_c, q_(c // g)> + b_c``). The
            decoder then costs K queries instead of C, for label spaces of
            thousands of classes (docs/large_scale.md). Default None: one
            query per class, the paper's head; ``num_queries=C`` is exactly
            that head (same parameters, same logits). K must leave no query
            without a class (ceil(C / g) == K).
        loss (dict): the loss config (default APL with the paper's gamma).
            MMPretrain's head passes ``avg_factor=batch size``: with
            ``reduction='mean'`` the loss is summed over classes and
            averaged over images. Ignored labels (``gt_label_difficult``
            or ``gt_label_ignore`` of a data sample that are not positives,
            e.g. VOC's difficult-only classes) get weight 0.
        thr, topk: see ``MultiLabelClsHead``.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_layers: int = 2,
                 num_heads: int = 4,
                 feedforward_channels: int = 8192,
                 dropout: float = 0.1,
                 activation: str = 'relu',
                 self_attn: Union[bool, Sequence[bool]] = False,
                 query_mode: str = 'paper',
                 num_queries: Optional[int] = None,
                 loss: dict = dict(
                     type='AsymmetricPolynomialLoss', gamma_pos=0,
                     gamma_neg=2, clip=0.05),
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        if isinstance(loss, dict):
            # mlic's registry (falls back to mmpretrain's): works outside a
            # Runner's default scope too.
            loss = MODELS.build(loss)
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(
                f'QueryDecoderHead: num_layers={num_layers} must be >= 1')
        if isinstance(self_attn, bool):
            self_attn = [self_attn] * num_layers
        self_attn = list(self_attn)
        if len(self_attn) != num_layers:
            raise ValueError(
                f'QueryDecoderHead: self_attn has {len(self_attn)} entries '
                f'({self_attn}) but num_layers={num_layers}')
        if query_mode not in ('paper', 'q2l'):
            raise ValueError(f"QueryDecoderHead: query_mode={query_mode!r} "
                             "must be 'paper' or 'q2l'")
        if in_channels % num_heads:
            raise ValueError(f'QueryDecoderHead: in_channels={in_channels} is '
                             f'not divisible by num_heads={num_heads}')
        self.num_classes = num_classes
        if hasattr(self.loss_module, 'size_counts'):  # PartialLabelLoss
            self.loss_module.size_counts(num_classes)
        self.in_channels = in_channels
        self.query_mode = query_mode
        self.self_attn_layers = self_attn
        self.num_queries, self.group_size = group_layout(num_classes,
                                                         num_queries)
        self.query_embed = nn.Parameter(torch.empty(self.num_queries,
                                                    in_channels))
        nn.init.normal_(self.query_embed, std=1.0)
        self.layers = nn.ModuleList([
            QueryDecoderLayer(in_channels, num_heads, feedforward_channels,
                              dropout, activation, sa) for sa in self_attn
        ])
        # Group-wise linear: one weight vector and bias per class (applied
        # to its group's query).
        self.fc_weight = nn.Parameter(torch.empty(num_classes, in_channels))
        self.fc_bias = nn.Parameter(torch.zeros(num_classes))
        bound = in_channels**-0.5
        nn.init.uniform_(self.fc_weight, -bound, bound)
        nn.init.uniform_(self.fc_bias, -bound, bound)

    def _memory(self, feats) -> Tuple[Tensor, int, int]:
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            channels = x.shape[1] if x.dim() > 1 else '?'
            raise ValueError(
                f'QueryDecoderHead: in_channels={self.in_channels} but the '
                f'neck outputs shape {tuple(x.shape)} ({channels} channels); '
                "set head.in_channels to the neck's embed_dims")
        b, _, h, w = x.shape
        return x.flatten(2).transpose(1, 2), h, w

    def decode(self, feats, need_weights: bool = False):
        """Final queries (B, C, d) and, if asked, per-layer maps."""
        memory, h, w = self._memory(feats)
        b = memory.shape[0]
        embed = self.query_embed.to(memory.dtype).unsqueeze(0).expand(
            b, -1, -1)
        if self.query_mode == 'paper':
            query, query_pos = embed, None
        else:
            query, query_pos = torch.zeros_like(embed), embed
        maps: List[Tensor] = []
        for layer in self.layers:
            query, weights = layer(query, memory, query_pos, need_weights)
            if need_weights:
                maps.append(weights.reshape(b, self.num_queries, h, w))
        return query, maps

    def pre_logits(self, feats):
        return self.decode(feats)[0]

    def forward(self, feats) -> Tensor:
        # The label classifier computes in at least float32 also under
        # autocast (B x C x d, cheap): half-precision logits would round the
        # scores to 3 digits and tie images in the ranking AP sorts.
        query = at_least_float32(self.pre_logits(feats))
        weight = self.fc_weight.to(query.dtype)
        bias = self.fc_bias.to(query.dtype)
        if self.group_size == 1:  # one query per class: the paper's head
            return (query * weight).sum(-1) + bias
        k, g = self.num_queries, self.group_size
        padded = k * g - self.num_classes
        if padded:
            weight = torch.cat([weight, weight.new_zeros(padded,
                                                         weight.shape[1])])
        logits = torch.einsum('bkd,kgd->bkg', query, weight.view(k, g, -1))
        return logits.reshape(query.shape[0], k * g)[:, :self.num_classes] \
            + bias

    def class_groups(self) -> Tensor:
        """(C,) the query that decodes each class (``arange(C)`` for the
        paper's head)."""
        return torch.arange(self.num_classes) // self.group_size

    def attention_maps(self, feats) -> List[Tensor]:
        """Cross-attention maps of each layer, (B, C, H', W'), averaged over
        heads; each map sums to 1 over the H' x W' cells. With grouped
        queries every class gets the map of its group's query."""
        maps = self.decode(feats, need_weights=True)[1]
        if self.group_size == 1:
            return maps
        index = self.class_groups().to(maps[0].device)
        return [m.index_select(1, index) for m in maps]

    def _get_loss(self, cls_score: Tensor, data_samples, **kwargs):
        num_classes = cls_score.shape[-1]
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score.float() for s in data_samples])
        else:
            target = torch.stack([
                label_to_onehot(s.gt_label, num_classes) for s in data_samples
            ]).float()
        target = target.to(cls_score.device)
        states = label_state_matrix(data_samples, num_classes,
                                    cls_score.device)
        if states is not None:
            keep = states != IGNORED
            unknown = states == UNKNOWN
            if getattr(self.loss_module, 'takes_unknown', False):
                # the loss's mode decides what an unknown contributes
                target = torch.where(unknown, torch.full_like(target, -1.0),
                                     target)
            else:  # a plain loss: unknowns are ignored
                keep &= ~unknown
            keep = keep.to(target.dtype)
            weight = kwargs.get('weight')
            kwargs['weight'] = keep if weight is None else weight * keep
        if getattr(self.loss_module, 'takes_sample_indices', False):
            # PartialLabelLoss(mode='role'): a label table row per image
            missing = [i for i, s in enumerate(data_samples)
                       if s.get('sample_idx', None) is None]
            if missing:
                raise ValueError(
                    f'{type(self.loss_module).__name__}: data sample '
                    f'{missing[0]} has no sample_idx (its dataset index), '
                    'which this loss needs; mmengine datasets set it')
            kwargs['sample_indices'] = torch.tensor(
                [int(s.sample_idx) for s in data_samples])
        loss = self.loss_module(
            cls_score, target, avg_factor=cls_score.size(0), **kwargs)
        return dict(loss=loss)


def group_layout(num_classes: int, num_queries: Optional[int]):
    """(K, g): the number of queries and classes per query (module
    docstring of :class:`QueryDecoderHead`, ``num_queries``)."""
    if num_queries is None:
        return num_classes, 1
    if isinstance(num_queries, bool) or not isinstance(
            num_queries, numbers.Integral):
        raise TypeError(f'QueryDecoderHead: num_queries={num_queries!r} '
                        f'({type(num_queries).__name__}) must be a whole '
                        'number (an int such as 10), or None for one query '
                        'per class')
    k = int(num_queries)
    if not 1 <= k <= num_classes:
        raise ValueError(f'QueryDecoderHead: num_queries={num_queries} must '
                         f'be in [1, num_classes={num_classes}]')
    g = -(-num_classes // k)
    used = -(-num_classes // g)
    if used != k:
        raise ValueError(
            f'QueryDecoderHead: num_queries={k} for {num_classes} classes '
            f'makes groups of ceil({num_classes}/{k})={g} classes, which '
            f'need only {used} queries: {k - used} would decode no class. '
            f'Use num_queries={used} (or a K that divides {num_classes}).')
    return k, g


def label_state_matrix(data_samples, num_classes: int,
                       device=None) -> Optional[Tensor]:
    """(B, C) int8 label states (``mlic.structures.label_states``) of a
    batch; ``None`` when every label is positive or negative (the common
    case, nothing built)."""
    if not any(has_states(sample) for sample in data_samples):
        return None  # a plainly labelled batch: no (C,) row per sample
    rows = []
    any_special = False
    for sample in data_samples:
        positive = np.zeros(num_classes, dtype=bool)
        labels = sample.get('gt_label', None)
        if labels is not None:
            positive[np.asarray(torch.as_tensor(labels).cpu(),
                                dtype=np.int64).reshape(-1)] = True
        if has_unknowns(sample):
            row = label_states(sample, positive)
        else:
            row = np.zeros(num_classes, dtype=np.int8)
            row[positive] = 1
            row[ignored_classes(sample, positive)] = IGNORED
        any_special = any_special or bool((row < 0).any())
        rows.append(row)
    if not any_special:
        return None
    return torch.from_numpy(np.stack(rows)).to(device)
