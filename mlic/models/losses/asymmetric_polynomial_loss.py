"""The Asymmetric Polynomial Loss family (docs/method.md section 4)."""
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.models.losses.utils import convert_to_one_hot, weight_reduce_loss
from torch import Tensor

from mlic.registry import MODELS


def asymmetric_polynomial_loss(logits: Tensor,
                               targets: Tensor,
                               gamma_pos: float = 0.0,
                               gamma_neg: float = 4.0,
                               clip: float = 0.05,
                               alpha1: float = 0.0,
                               alpha2: float = 1.75,
                               beta1: float = 1.0,
                               eps: float = 1e-8) -> Tensor:
    """Element-wise APL, as the official implementation computes it.

    With p = sigmoid(logit) and p_m = max(p - clip, 0)::

        L+ = (1-p)^gamma_pos * (-log p + (alpha1-1)(1-p) + (alpha2-1/2)(1-p)^2)
        L- = p_m^gamma_neg  * (-log(1-p_m) + (beta1-1) p_m)
        L  = y L+ + (1-y) L-

    The focusing weights are detached (no gradient flows through them), as
    in the APL/ASL code, without touching the global grad mode. The
    computation runs in at least float32 (fp16/bf16 logits are cast), and
    the logs are clamped at ``eps``, so logits of +-100 give finite losses
    and gradients.

    Special cases (tested): alpha1=1, alpha2=1/2, beta1=1 is ASL; with
    additionally clip=0 and gamma_pos=gamma_neg=gamma it is focal loss
    (without alpha); with all gammas 0 as well it is BCE.

    Returns the (N, C) loss; targets in {0, 1} (soft targets in [0, 1] mix
    the two branches linearly).
    """
    dtype = torch.promote_types(logits.dtype, torch.float32)
    x = logits.to(dtype)
    y = targets.to(dtype)
    p = torch.sigmoid(x)
    q = 1.0 - p
    p_m = (p - clip).clamp(min=0) if clip and clip > 0 else p
    pos = -torch.log(p.clamp(min=eps)) + (alpha1 - 1.0) * q + (
        alpha2 - 0.5) * q * q
    neg = -torch.log((1.0 - p_m).clamp(min=eps)) + (beta1 - 1.0) * p_m
    if gamma_pos:
        pos = pos * q.detach().pow(gamma_pos)
    if gamma_neg:
        neg = neg * p_m.detach().pow(gamma_neg)
    return y * pos + (1.0 - y) * neg


def reduce_loss(loss: Tensor, weight: Optional[Tensor], reduction: str,
                avg_factor: Optional[float]) -> Tensor:
    """MMPretrain's weighted reduction of an element-wise (N, C) loss; a
    (N,) weight weighs whole images."""
    if weight is not None:
        weight = weight.to(loss.dtype)
        if weight.dim() == 1:
            weight = weight.reshape(-1, 1)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class AsymmetricPolynomialLoss(nn.Module):
    """Asymmetric Polynomial Loss (Huang et al., ICASSP 2023) and its family.

    The defaults reproduce the official code (gamma_neg=4); the paper's
    experiments use ``gamma_neg=2``. ASL, focal loss and BCE are settings of
    this loss (the ablation configs spell them out):

    ========  ==========================================================
    APL       gamma_pos=0, gamma_neg=2, clip=0.05, alpha1=0, alpha2=1.75,
              beta1=1 (paper)
    ASL       gamma_pos=0, gamma_neg=2 (ablation; 4 in the ASL code),
              clip=0.05, alpha1=1, alpha2=0.5, beta1=1
    focal     gamma_pos=gamma_neg=2, clip=0, alpha1=1, alpha2=0.5, beta1=1
    BCE       gamma_pos=gamma_neg=0, clip=0, alpha1=1, alpha2=0.5, beta1=1
    ========  ==========================================================

    Follows MMPretrain's loss interface: ``forward(cls_score, label,
    weight=None, avg_factor=None, reduction_override=None)``; ``label`` is
    either (N, C) multi-hot or (N,) class indices.

    Args:
        gamma_pos, gamma_neg (float): focusing exponents.
        clip (float): probability shift of the negatives (p_th).
        alpha1, alpha2, beta1 (float): polynomial coefficients.
        eps (float): clamp of the log arguments.
        reduction (str): 'none', 'mean' or 'sum'.
        loss_weight (float): multiplier of the loss.
    """

    def __init__(self,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0,
                 clip: float = 0.05,
                 alpha1: float = 0.0,
                 alpha2: float = 1.75,
                 beta1: float = 1.0,
                 eps: float = 1e-8,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'AsymmetricPolynomialLoss: reduction='
                             f"{reduction!r} must be 'none', 'mean' or 'sum'")
        if clip is not None and not 0 <= clip < 1:
            raise ValueError(
                f'AsymmetricPolynomialLoss: clip={clip} must be in [0, 1)')
        if gamma_pos < 0 or gamma_neg < 0:
            raise ValueError('AsymmetricPolynomialLoss: gamma_pos/gamma_neg '
                             f'({gamma_pos}, {gamma_neg}) must be >= 0')
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.alpha1 = alpha1
        self.alpha2 = alpha2
        self.beta1 = beta1
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        reduction = reduction_override or self.reduction
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'reduction_override={reduction!r}')
        if label.dim() == 1 or (label.dim() == 2 and label.shape[1] == 1
                                and cls_score.shape[1] != 1):
            label = convert_to_one_hot(label.view(-1, 1), cls_score.shape[-1])
        if label.shape != cls_score.shape:
            raise ValueError(
                f'AsymmetricPolynomialLoss: label shape {tuple(label.shape)} '
                f'does not match the scores {tuple(cls_score.shape)}')
        loss = asymmetric_polynomial_loss(
            cls_score, label, self.gamma_pos, self.gamma_neg, self.clip,
            self.alpha1, self.alpha2, self.beta1, self.eps)
        return self.loss_weight * reduce_loss(loss, weight, reduction,
                                              avg_factor)
