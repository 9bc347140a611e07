"""Losses for labels that are not known (docs/partial_labels.md).

:class:`PartialLabelLoss` wraps a base loss (APL, ASL, focal, BCE: any
loss that takes ``reduction_override='none'``) and decides, by its ``mode``,
what an *unknown* label (target -1) contributes. Known positives and known
negatives always take the base loss as they are; ignored labels (weight 0
from the head) never count.

Modes (``l+`` / ``l-``: the base loss of the entry as a positive / as a
negative; sums over the batch are divided by ``avg_factor``, the batch size
from the head, as for the base loss):

============  ===============================================================
ignore        unknowns add nothing.
negative      unknowns are negatives weighted ``negative_weight`` (1: "assume
              negative"; ``'wan'``: 1/(C-1), the weak assume-negative of
              Cole et al., CVPR 2021, for one positive per image).
selective     in the spirit of CSL (Ben-Baruch et al., 2022): unknowns are
              negatives, except, in each image, the ``round(sum of the
              priors of its unknown classes)`` unknowns the model scores
              highest, which are ignored. The prior sets how many of an
              image's unknowns are likely positive, the model's scores
              which ones. ``prior='known'``: positives / known labels of
              each class, counted over the training batches seen so far
              (summed over processes): right when labels are missing at
              random; with no known negative it is 1 and every unknown is
              spared (a warning says so). ``'images'``: positives / labels
              seen, known or not (every unknown counted as a negative):
              the class frequency when every positive is listed, a lower
              bound otherwise. A list of C numbers: fixed priors (a
              census, a first model's mean scores). The spared count
              assumes an image's unknowns hold positives in proportion to
              the priors: for labels listing every positive (none is
              unknown) ``'negative'`` is exact and measured far ahead.
large_loss    Kim et al. (CVPR 2022): unknowns are negatives, except the
              fraction ``min(rate_per_epoch * epoch, max_rate)`` of the
              batch's unknowns with the largest ``l-``, which are dropped
              (``correction='reject'``, LL-R) or taken as positives
              (``'flip'``, LL-Ct). ``epoch`` counts from 0 (the first epoch
              rejects nothing).
epr           expected positive regularisation (Cole et al., CVPR 2021):
              unknowns add nothing; the batch adds ``epr_weight * (k_hat -
              k)^2 / C`` where ``k_hat`` is the mean over images of the sum
              of the predicted probabilities and ``k`` is
              ``expected_positives`` (the loss is summed over classes, so
              this is Cole's ``(k_hat - k)^2 / C^2`` per class times C).
role          regularised online label estimation (Cole et al., CVPR 2021):
              a table of label estimates ``y_hat`` (one logit per training
              image and class, ``num_images`` x C) is learnt beside the
              model. An unknown adds ``0.5 * BCE(x, y_hat)`` (soft target,
              ``y_hat`` held fixed) and the batch ``0.5 * epr_weight *
              EPR(p)``; then the estimates of the batch's unknowns take one
              Adam step (``estimator_lr``, per entry) on ``0.5 * BCE(y_hat,
              p)`` (``p`` held fixed) + ``0.5 * epr_weight * EPR(y_hat)``
              (known labels enter that EPR as 0 / 1). The table is a buffer
              (in checkpoints; the same on every process: the updated rows
              are exchanged each step), not a model parameter, so the
              model's optimizer, clipping and schedule never see it. Needs
              each sample's dataset index (``sample_idx``, which mmengine's
              datasets set) and ``expected_positives``.
============  ===============================================================
"""
import logging
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from torch import Tensor

import torch.nn.functional as F

from mmengine.logging import print_log

from mlic.registry import MODELS
from .asymmetric_polynomial_loss import reduce_loss

MODES = ('ignore', 'negative', 'selective', 'large_loss', 'epr', 'role')
PRIORS = ('known', 'images')
# the label table of 'role' (three float32 N x C buffers) above this many
# entries is refused: OpenImages-size training sets need another method
ROLE_MAX_ENTRIES = 500_000_000
_ADAM = (0.9, 0.999, 1e-8)  # the estimator's betas and eps


def _current_epoch() -> int:
    """The runner's epoch (0-based) from mmengine's message hub; 0 outside a
    runner."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_current_instance()
    return int(hub.get_info('epoch', 0) or 0)


def _all_gather(obj) -> list:
    from mmengine.dist import all_gather_object, get_world_size
    return all_gather_object(obj) if get_world_size() > 1 else [obj]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _all_reduce_sum(tensor: Tensor) -> Tensor:
    from mmengine.dist import all_reduce, get_world_size
    if get_world_size() > 1:
        all_reduce(tensor, op='sum')
    return tensor


@MODELS.register_module()
class PartialLabelLoss(nn.Module):
    """A base loss plus a rule for unknown labels (module docstring).

    ``forward(cls_score, label, weight=None, avg_factor=None,
    reduction_override=None)`` as MMPretrain's losses; ``label`` is (N, C)
    with 1 (positive), 0 (negative) or -1 (unknown). The head passes -1 for
    the unknown labels of its data samples (``gt_label_unknown``, or every
    class not listed where ``gt_label_negative`` is given).

    Args:
        mode (str): one of ``MODES`` (module docstring).
        base (dict | nn.Module): the loss of known labels (default: the
            paper's APL).
        negative_weight (float | str): weight of an unknown taken as a
            negative in ``'negative'`` mode; ``'wan'``: 1/(C-1).
        correction (str): ``'reject'`` or ``'flip'`` (``'large_loss'``).
        rate_per_epoch (float): growth of the large-loss rate per epoch.
        max_rate (float, optional): the largest rate (default: no cap).
        expected_positives (float): k of ``'epr'`` and ``'role'``,
            positives per image.
        epr_weight (float): weight of the EPR term.
        num_images (int): ``'role'``: the training set's length (rows of
            the label table).
        estimator_lr (float): ``'role'``: the Adam step of the label
            estimates (Cole et al.: 10x the model's learning rate).
        estimator_seed (int): ``'role'``: the initial estimates, uniform in
            (0.4, 0.6) as probabilities, drawn from this seed.
        prior (str | list): ``'selective'``: ``'known'`` (default),
            ``'images'`` or C fixed priors in [0, 1] (module docstring).
    """

    takes_unknown = True  # the head passes -1 for unknown labels

    def __init__(self,
                 mode: str = 'ignore',
                 base: Union[dict, nn.Module] = dict(
                     type='AsymmetricPolynomialLoss', gamma_pos=0,
                     gamma_neg=2, clip=0.05, alpha1=0.0, alpha2=1.75,
                     beta1=1.0),
                 negative_weight: Union[float, str] = 1.0,
                 correction: str = 'reject',
                 rate_per_epoch: float = 0.002,
                 max_rate: Optional[float] = None,
                 expected_positives: Optional[float] = None,
                 epr_weight: float = 1.0,
                 num_images: Optional[int] = None,
                 estimator_lr: float = 0.1,
                 estimator_seed: int = 0,
                 prior: Union[str, Sequence[float]] = 'known',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f'PartialLabelLoss: mode={mode!r} must be one '
                             f'of {MODES}')
        if isinstance(negative_weight, str):
            if negative_weight != 'wan':
                raise ValueError(
                    f'PartialLabelLoss: negative_weight={negative_weight!r} '
                    "must be a number >= 0 or 'wan' (1/(C-1))")
        elif not negative_weight >= 0:
            raise ValueError(f'PartialLabelLoss: negative_weight='
                             f'{negative_weight} must be >= 0')
        if correction not in ('reject', 'flip'):
            raise ValueError(f'PartialLabelLoss: correction={correction!r} '
                             "must be 'reject' or 'flip'")
        if not rate_per_epoch >= 0 or (max_rate is not None
                                       and not 0 <= max_rate <= 1):
            raise ValueError(
                f'PartialLabelLoss: rate_per_epoch={rate_per_epoch} must be '
                f'>= 0 and max_rate={max_rate} in [0, 1]')
        if mode in ('epr', 'role') and (expected_positives is None
                                        or not expected_positives > 0):
            raise ValueError(
                f'PartialLabelLoss: mode={mode!r} needs expected_positives, '
                'the mean number of positives per image (> 0), e.g. '
                'expected_positives=2.9 for MS-COCO; got '
                f'{expected_positives!r}')
        if mode not in ('epr', 'role') and expected_positives is not None:
            raise ValueError(
                f'PartialLabelLoss: expected_positives is read only by '
                f"mode='epr' and 'role', not mode={mode!r}; remove it")
        if mode == 'role' and (isinstance(num_images, bool) or not
                               isinstance(num_images, int) or
                               num_images < 1):
            raise ValueError(
                "PartialLabelLoss: mode='role' needs num_images, the length "
                'of the training set (the rows of its label table), e.g. '
                f'num_images=82783 for COCO train2014; got {num_images!r}')
        if mode != 'role' and num_images is not None:
            raise ValueError(
                'PartialLabelLoss: num_images is read only by '
                f"mode='role', not mode={mode!r}; remove it")
        if not estimator_lr > 0:
            raise ValueError(f'PartialLabelLoss: estimator_lr={estimator_lr}'
                             ' must be > 0')
        fixed = None
        if isinstance(prior, str):
            if prior not in PRIORS:
                raise ValueError(f'PartialLabelLoss: prior={prior!r} must be '
                                 f'one of {PRIORS} or a list of C numbers in '
                                 '[0, 1]')
        else:
            fixed = torch.as_tensor(list(prior), dtype=torch.float64)
            if fixed.ndim != 1 or not fixed.numel() or not bool(
                    ((fixed >= 0) & (fixed <= 1)).all()):
                raise ValueError(
                    'PartialLabelLoss: prior must be a list of C numbers in '
                    f'[0, 1] (one per class); got {list(prior)!r}')
        if mode != 'selective' and not (isinstance(prior, str)
                                        and prior == 'known'):
            raise ValueError(
                'PartialLabelLoss: prior is read only by '
                f"mode='selective', not mode={mode!r}; remove it")
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f'PartialLabelLoss: reduction={reduction!r}')
        self.mode = mode
        self.base = MODELS.build(base) if isinstance(base, dict) else base
        self.negative_weight = negative_weight
        self.correction = correction
        self.rate_per_epoch = rate_per_epoch
        self.max_rate = max_rate
        self.expected_positives = expected_positives
        self.epr_weight = epr_weight
        self.num_images = num_images
        self.estimator_lr = float(estimator_lr)
        self.estimator_seed = int(estimator_seed)
        self.prior = prior if fixed is None else 'fixed'
        self.fixed_priors = fixed
        self._warned_no_negative = False
        self.reduction = reduction
        self.loss_weight = loss_weight
        # class priors of 'selective' (counted over training batches; in
        # checkpoints, so a resumed run goes on with them)
        self.register_buffer('positive_count', torch.zeros(0,
                                                           dtype=torch.float64))
        self.register_buffer('known_count', torch.zeros(0, dtype=torch.float64))
        if mode == 'role':
            # the label table (logits), its Adam moments and visits per row;
            # sized by size_counts (the head knows C)
            for name in ('role_logits', 'role_m', 'role_v'):
                self.register_buffer(name, torch.zeros(0, 0))
            self.register_buffer('role_steps', torch.zeros(0))

    @property
    def takes_sample_indices(self) -> bool:
        """Whether the head must pass each sample's dataset index."""
        return self.mode == 'role'

    def size_counts(self, num_classes: int) -> None:
        """Size the prior counts for ``num_classes`` (the head calls this
        when it builds the loss: a model copy - EMA - then has them from
        the start)."""
        if self.positive_count.numel() != num_classes:
            self.positive_count = torch.zeros(num_classes,
                                              dtype=torch.float64)
            self.known_count = torch.zeros_like(self.positive_count)
        if self.mode == 'role' and tuple(self.role_logits.shape) != (
                self.num_images, num_classes):
            self._init_table(num_classes)

    def _init_table(self, num_classes: int) -> None:
        n = self.num_images
        if n * num_classes > ROLE_MAX_ENTRIES:
            raise ValueError(
                f"PartialLabelLoss: mode='role' keeps {n} x {num_classes} "
                f'label estimates (three float32 tables, '
                f'{3 * 4 * n * num_classes / 2**30:.1f} GiB, in every '
                'process and checkpoint); above '
                f'{ROLE_MAX_ENTRIES:,} entries it is refused: use '
                "'negative' (WAN) or 'epr' for a label space this large")
        gen = torch.Generator().manual_seed(self.estimator_seed)
        q = _logit(0.6)  # estimates start in (0.4, 0.6)
        self.role_logits = (torch.rand(n, num_classes, generator=gen) * 2 -
                            1) * q
        self.role_m = torch.zeros(n, num_classes)
        self.role_v = torch.zeros(n, num_classes)
        self.role_steps = torch.zeros(n)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the prior counts are sized by the first batch: take a checkpoint's
        # size as it is
        names = ('positive_count', 'known_count')
        if self.mode == 'role':
            names += ('role_logits', 'role_m', 'role_v', 'role_steps')
        for name in names:
            value = state_dict.get(prefix + name)
            if value is not None and value.shape != getattr(self, name).shape:
                setattr(self, name, torch.zeros_like(value))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- pieces ---------------------------------------------------------
    def _elementwise(self, cls_score: Tensor, target: Tensor) -> Tensor:
        return self.base(cls_score, target, reduction_override='none')

    def large_loss_rate(self, epoch: Optional[int] = None) -> float:
        epoch = _current_epoch() if epoch is None else epoch
        rate = self.rate_per_epoch * epoch
        return min(rate, self.max_rate) if self.max_rate is not None else \
            min(rate, 1.0)

    def class_priors(self, label: Tensor,
                     weight: Optional[Tensor] = None) -> Tensor:
        """Update the counts with ``label`` (training only; entries of
        weight 0 - ignored labels - do not count) and return the priors,
        (C,): positives / known labels of each class so far (``prior=
        'known'``), positives / labels seen (``'images'``), or the fixed
        list."""
        c = label.shape[1]
        if self.fixed_priors is not None:
            if self.fixed_priors.numel() != c:
                raise ValueError(
                    f'PartialLabelLoss: prior lists {self.fixed_priors.numel()}'
                    f' classes but the model has {c}; give one prior per '
                    'class, in the class list\'s order')
            return self.fixed_priors.to(label.device)
        if self.positive_count.numel() != c:
            self.positive_count = torch.zeros(c, dtype=torch.float64,
                                              device=label.device)
            self.known_count = torch.zeros_like(self.positive_count)
        if self.training:
            # the denominator: known labels ('known') or every label not
            # ignored ('images'; known_count then counts those)
            counted = label if weight is None else torch.where(
                weight.expand_as(label) > 0, label, torch.full_like(label, -2))
            seen = counted >= 0 if self.prior == 'known' else counted >= -1
            counts = torch.stack([(counted == 1).sum(0),
                                  seen.sum(0)]).to(torch.float64)
            counts = _all_reduce_sum(counts)
            self.positive_count += counts[0].to(self.positive_count.device)
            self.known_count += counts[1].to(self.known_count.device)
            if self.prior == 'known':
                self._warn_without_negatives()
        return (self.positive_count /
                self.known_count.clamp(min=1)).to(label.device)

    def _warn_without_negatives(self):
        """Once: with ``prior='known'``, when no class with a positive has
        a known negative (labels that list positives only), every prior is
        1 and every unknown is spared."""
        if self._warned_no_negative:
            return
        has = self.positive_count > 0
        if bool(has.any()) and bool(
                (self.known_count[has] == self.positive_count[has]).all()):
            self._warned_no_negative = True
            print_log(
                "PartialLabelLoss(mode='selective', prior='known'): no "
                'class has a known negative so far, so every prior is 1 '
                "and every unknown is spared (as 'ignore'). For labels "
                'that list positives only, model.head.loss.mode=negative '
                "or 'role' led on the demo (docs/partial_labels.md, "
                "section 4); with selective, set prior='images'.",
                logger='current',
                level=logging.WARNING)

    # -- forward --------------------------------------------------------
    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                sample_indices: Optional[Tensor] = None) -> Tensor:
        reduction = reduction_override or self.reduction
        if label.shape != cls_score.shape:
            raise ValueError(
                f'PartialLabelLoss: label shape {tuple(label.shape)} does '
                f'not match the scores {tuple(cls_score.shape)} (labels '
                'are (N, C) with 1, 0 or -1 for unknown)')
        if self.mode in ('epr', 'role') and reduction == 'none':
            raise ValueError(f'PartialLabelLoss: mode={self.mode!r} adds a '
                             "term of the batch; reduction='none' cannot "
                             'carry it')
        label = label.to(cls_score.device)
        known = label >= 0
        unknown = label < 0
        positive = label > 0
        l_pos = self._elementwise(cls_score, torch.ones_like(cls_score))
        l_neg = self._elementwise(cls_score, torch.zeros_like(cls_score))
        dtype = l_pos.dtype
        w_pos = positive.to(dtype)
        w_neg = (known & ~positive).to(dtype)
        num_classes = cls_score.shape[1]
        if self.mode == 'negative':
            u = (1.0 / max(num_classes - 1, 1) if self.negative_weight == 'wan'
                 else float(self.negative_weight))
            w_neg = w_neg + u * unknown.to(dtype)
        elif self.mode == 'selective':
            priors = self.class_priors(
                label, None if weight is None else
                (weight if weight.dim() == 2 else weight.reshape(-1, 1)))
            spared = self._likely_positive(cls_score, unknown, priors)
            w_neg = w_neg + (unknown & ~spared).to(dtype)
        elif self.mode == 'large_loss':
            as_negative = unknown.clone()
            picked = self._largest_losses(l_neg, unknown)
            as_negative &= ~picked
            w_neg = w_neg + as_negative.to(dtype)
            if self.correction == 'flip':
                w_pos = w_pos + picked.to(dtype)
        elementwise = w_pos * l_pos + w_neg * l_neg
        if self.mode == 'role':
            rows = self._table_rows(sample_indices, cls_score.shape)
            estimate = torch.sigmoid(self.role_logits[rows]).to(
                cls_score.device, torch.float32)  # held fixed (a buffer)
            soft = F.binary_cross_entropy_with_logits(
                cls_score.float(), estimate, reduction='none')
            elementwise = elementwise + 0.5 * unknown.to(dtype) * soft.to(
                dtype)
        loss = reduce_loss(elementwise, weight, reduction, avg_factor)
        if self.mode == 'epr':
            loss = loss + self.epr_weight * self._epr(cls_score)
        elif self.mode == 'role':
            loss = loss + 0.5 * self.epr_weight * self._epr(cls_score)
            if self.training and torch.is_grad_enabled():
                self._estimator_step(rows, cls_score, label, weight)
        return self.loss_weight * loss

    # -- 'role' ---------------------------------------------------------
    def _table_rows(self, sample_indices, shape) -> Tensor:
        if sample_indices is None:
            raise ValueError(
                "PartialLabelLoss: mode='role' needs each image's dataset "
                'index (sample_indices; the head passes the data samples\' '
                'sample_idx)')
        rows = torch.as_tensor(sample_indices, dtype=torch.long).reshape(-1)
        if rows.numel() != shape[0]:
            raise ValueError(f'PartialLabelLoss: {rows.numel()} sample '
                             f'indices for {shape[0]} images')
        self.size_counts(shape[1])  # a loss built outside a head
        bad = (rows < 0) | (rows >= self.num_images)
        if bool(bad.any()):
            raise ValueError(
                f"PartialLabelLoss: mode='role' got image index "
                f'{int(rows[bad][0])}, outside its label table of '
                f'num_images={self.num_images} rows: set '
                'model.head.loss.num_images to the length of the training '
                'set')
        return rows.to(self.role_logits.device)

    def _estimator_step(self, rows: Tensor, cls_score: Tensor, label: Tensor,
                        weight: Optional[Tensor]) -> None:
        """One Adam step of the batch's unknown estimates (module
        docstring), then the updated rows from every process."""
        table = self.role_logits
        dev = table.device
        unknown = (label < 0)
        if weight is not None:
            unknown = unknown & (weight.expand_as(label) > 0)
        unknown = unknown.to(dev)
        theta0 = table[rows]
        with torch.enable_grad():
            theta = theta0.clone().requires_grad_(True)
            p = torch.sigmoid(cls_score.detach().float()).to(dev)
            bce = F.binary_cross_entropy_with_logits(theta, p,
                                                     reduction='none')
            fit = 0.5 * (bce * unknown).sum() / cls_score.shape[0]
            known = label.detach().float().clamp(min=0).to(dev)
            q = torch.where(unknown, torch.sigmoid(theta), known)
            k_hat = q.sum(1).mean()
            reg = 0.5 * self.epr_weight * (
                k_hat - self.expected_positives)**2 / label.shape[1]
            (grad, ) = torch.autograd.grad(fit + reg, theta)
        beta1, beta2, eps = _ADAM
        steps = self.role_steps[rows] + 1
        m = torch.where(unknown, beta1 * self.role_m[rows] +
                        (1 - beta1) * grad, self.role_m[rows])
        v = torch.where(unknown, beta2 * self.role_v[rows] +
                        (1 - beta2) * grad * grad, self.role_v[rows])
        m_hat = m / (1 - beta1**steps).unsqueeze(1)
        v_hat = v / (1 - beta2**steps).unsqueeze(1)
        new = torch.where(unknown, theta0 - self.estimator_lr * m_hat /
                          (v_hat.sqrt() + eps), theta0)
        for r, t, mm, vv, st in _all_gather((rows, new, m, v, steps)):
            r = r.to(dev)
            self.role_logits[r] = t.to(dev, table.dtype)
            self.role_m[r] = mm.to(dev)
            self.role_v[r] = vv.to(dev)
            self.role_steps[r] = st.to(dev)

    def label_estimates(self) -> Tensor:
        """(num_images, C) the current estimates y_hat of ``'role'``."""
        return torch.sigmoid(self.role_logits)

    def _likely_positive(self, cls_score: Tensor, unknown: Tensor,
                         priors: Tensor) -> Tensor:
        """(N, C) bool: the unknowns of each image spared by 'selective'."""
        expected = (priors.to(cls_score.dtype).unsqueeze(0) *
                    unknown.to(cls_score.dtype)).sum(1)
        count = torch.round(expected).long()  # (N,)
        if int(count.max()) == 0:
            return torch.zeros_like(unknown)
        score = cls_score.detach().float().masked_fill(~unknown, -math.inf)
        order = score.argsort(dim=1, descending=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(
            order.shape[1], device=order.device).expand_as(order))
        return (rank < count.unsqueeze(1)) & unknown

    def _largest_losses(self, l_neg: Tensor, unknown: Tensor) -> Tensor:
        """(N, C) bool: the batch's unknowns with the largest negative loss,
        ``ceil(rate * number of unknowns)`` of them."""
        n = int(unknown.sum())
        k = math.ceil(self.large_loss_rate() * n - 1e-9)
        picked = torch.zeros_like(unknown)
        if k <= 0 or n == 0:
            return picked
        values = l_neg.detach().masked_fill(~unknown, -math.inf).flatten()
        top = values.topk(min(k, n)).indices
        picked.view(-1)[top] = True
        return picked

    def _epr(self, cls_score: Tensor) -> Tensor:
        p = torch.sigmoid(cls_score.float())
        k_hat = p.sum(1).mean()
        return (k_hat - self.expected_positives)**2 / cls_score.shape[1]
