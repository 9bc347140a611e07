import math

import pytest
import torch
import torch.nn.functional as F

from mlic.models.losses import AsymmetricPolynomialLoss
from mlic.models.losses.asymmetric_polynomial_loss import \
    asymmetric_polynomial_loss


def check_vector():
    x = (3 * torch.sin(0.7 * torch.arange(20, dtype=torch.float64))).view(4, 5)
    y = (torch.cos(1.3 * torch.arange(20, dtype=torch.float64)) > 0.3).double()
    return x, y.view(4, 5)


def direct_apl(x, y, gp, gn, clip, a1, a2, b1, eps=1e-8):
    """docs/method.md section 4 written out, element by element, in float64."""
    out = torch.zeros_like(x)
    for idx in itertools_product(x.shape):
        p = 1 / (1 + math.exp(-float(x[idx])))
        pm = max(p - clip, 0.0)
        lp = (1 - p)**gp * (-math.log(max(p, eps)) + (a1 - 1) * (1 - p) +
                            (a2 - 0.5) * (1 - p)**2)
        ln = pm**gn * (-math.log(max(1 - pm, eps)) + (b1 - 1) * pm)
        out[idx] = float(y[idx]) * lp + (1 - float(y[idx])) * ln
    return out


def itertools_product(shape):
    import itertools
    return itertools.product(*[range(s) for s in shape])


def test_spec_check_vector():
    x, y = check_vector()
    loss = AsymmetricPolynomialLoss(reduction='sum')
    assert loss(x, y).item() == pytest.approx(13.300067489051, abs=1e-10)
    loss2 = AsymmetricPolynomialLoss(gamma_neg=2, reduction='sum')
    assert loss2(x, y).item() == pytest.approx(15.517904579958, abs=1e-10)
    ref = direct_apl(x, y, 0, 4, 0.05, 0, 1.75, 1)
    torch.testing.assert_close(
        asymmetric_polynomial_loss(x, y), ref, rtol=0, atol=1e-12)


def test_special_cases_asl_focal_bce():
    x, y = check_vector()
    p = torch.sigmoid(x)
    # ASL (gamma_neg 2, clip 0.05), written directly.
    pm = (p - 0.05).clamp(min=0)
    asl = -(y * torch.log(p) + (1 - y) * pm**2 * torch.log(1 - pm))
    got = asymmetric_polynomial_loss(x, y, 0, 2, 0.05, 1, 0.5, 1)
    torch.testing.assert_close(got, asl, rtol=0, atol=1e-12)
    # focal loss without alpha
    focal = -(y * (1 - p)**2 * torch.log(p) + (1 - y) * p**2 * torch.log(1 - p))
    got = asymmetric_polynomial_loss(x, y, 2, 2, 0, 1, 0.5, 1)
    torch.testing.assert_close(got, focal, rtol=0, atol=1e-12)
    # BCE
    bce = F.binary_cross_entropy_with_logits(x, y, reduction='none')
    got = asymmetric_polynomial_loss(x, y, 0, 0, 0, 1, 0.5, 1)
    torch.testing.assert_close(got, bce, rtol=0, atol=1e-12)


def test_gradient_uses_detached_weights():
    x, y = check_vector()
    x1 = x.clone().requires_grad_()
    asymmetric_polynomial_loss(x1, y, 1, 3, 0.05, 0.3, 1.2, 0.8).sum().backward()
    x2 = x.clone().requires_grad_()
    p = torch.sigmoid(x2)
    pm = (p - 0.05).clamp(min=0)
    lp = (1 - p).detach()**1 * (-torch.log(p) + (0.3 - 1) * (1 - p) +
                                (1.2 - 0.5) * (1 - p)**2)
    ln = pm.detach()**3 * (-torch.log(1 - pm) + (0.8 - 1) * pm)
    (y * lp + (1 - y) * ln).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=1e-12)
    # and it differs from differentiating through the weights
    x3 = x.clone().requires_grad_()
    p = torch.sigmoid(x3)
    pm = (p - 0.05).clamp(min=0)
    lp = (1 - p) * (-torch.log(p) - 0.7 * (1 - p) + 0.7 * (1 - p)**2)
    ln = pm**3 * (-torch.log(1 - pm) - 0.2 * pm)
    (y * lp + (1 - y) * ln).sum().backward()
    assert not torch.allclose(x1.grad, x3.grad)


def test_no_global_grad_mode_side_effect():
    x, y = check_vector()
    with torch.no_grad():
        AsymmetricPolynomialLoss()(x, y)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16,
                                   torch.bfloat16])
def test_extreme_and_low_precision_logits(dtype):
    x = torch.tensor([[100.0, -100.0, 100.0, -100.0, 0.0]], dtype=dtype,
                     requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0]])
    for clip in (0.05, 0.0):
        loss = AsymmetricPolynomialLoss(gamma_neg=2, clip=clip)(x, y)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        (grad, ) = torch.autograd.grad(loss, x)
        assert torch.isfinite(grad.float()).all()


def test_reduction_weight_and_index_labels():
    x, y = check_vector()
    x, y = x.float(), y.float()
    loss_none = AsymmetricPolynomialLoss(reduction='none')(x, y)
    assert loss_none.shape == (4, 5)
    mean = AsymmetricPolynomialLoss()(x, y)
    assert mean.item() == pytest.approx(loss_none.mean().item())
    per_img = AsymmetricPolynomialLoss(loss_weight=2.0)(x, y, avg_factor=4)
    assert per_img.item() == pytest.approx(2 * loss_none.sum().item() / 4)
    w = torch.tensor([1.0, 0.0, 2.0, 1.0])
    weighted = AsymmetricPolynomialLoss(reduction='sum')(x, y, weight=w)
    assert weighted.item() == pytest.approx(
        (loss_none * w[:, None]).sum().item(), rel=1e-6)
    labels = torch.tensor([0, 3, 4, 1])
    onehot = F.one_hot(labels, 5).float()
    a = AsymmetricPolynomialLoss()(x, labels)
    b = AsymmetricPolynomialLoss()(x, onehot)
    assert a.item() == pytest.approx(b.item())


@pytest.mark.parametrize('kwargs', [dict(reduction='avg'), dict(clip=1.5),
                                    dict(gamma_neg=-1)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        AsymmetricPolynomialLoss(**kwargs)
