"""BatchNorm folded into convolutions: the formula by hand, float64 parity
on real backbones, and every case where folding must not happen."""
import copy
import warnings

import pytest
import torch
from torch import nn

from mlic.models.batchnorm_folding import (fold_batchnorm,
                                           trace_conv_batchnorm_pairs)


def _randomise_bn(model, seed=0):
    """Running statistics and affine weights far from the identity, so a
    wrong fold shows."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            if m.running_mean is not None:
                m.running_mean.copy_(torch.randn(n, generator=g))
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            if m.weight is not None:
                m.weight.data.copy_(torch.randn(n, generator=g))
                m.bias.data.copy_(torch.randn(n, generator=g))
    return model


def test_hand_checked_single_pair():
    """1x1 conv w=2, b=1; BN mean 3, var 3, eps 1 (sqrt 2), gamma 4,
    beta 5: y = (2x + 1 - 3) / 2 * 4 + 5 = 4x + 1."""
    conv = nn.Conv2d(1, 1, 1)
    bn = nn.BatchNorm2d(1, eps=1.0)
    with torch.no_grad():
        conv.weight.fill_(2.0)
        conv.bias.fill_(1.0)
        bn.running_mean.fill_(3.0)
        bn.running_var.fill_(3.0)
        bn.weight.fill_(4.0)
        bn.bias.fill_(5.0)
    model = nn.Sequential(conv, bn).eval()
    x = torch.tensor([0.0, 1.0, -2.5]).view(3, 1, 1, 1)
    folded, report = fold_batchnorm(model, x, forward=lambda m, i: m(i))
    assert report.used and report.folded == ['1']
    assert folded[0].weight.item() == 4.0 and folded[0].bias.item() == 1.0
    assert isinstance(folded[1], nn.Identity)
    assert folded(x).flatten().tolist() == [1.0, 5.0, -9.0]
    # the model given is untouched
    assert isinstance(model[1], nn.BatchNorm2d)
    assert model[0].weight.item() == 2.0


@pytest.mark.parametrize('channels_last', [False, True])
def test_resnet_float64_parity_and_original_untouched(channels_last):
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    net = ResNet(depth=18, out_indices=(3, ))
    net.init_weights()
    net = _randomise_bn(net).double()
    net.eval()  # mmpretrain's ResNet.train() returns None: no chaining
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    storage = {k: v.data_ptr() for k, v in net.state_dict().items()}
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        ref = net(x)[0]
    folded, report = fold_batchnorm(net, x[:1], forward=lambda m, i: m(i))
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert report.used and len(report.folded) == n_bn == 20
    assert not report.skipped
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        out = folded(x)[0]
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    # the original: same keys, same storage, same values
    assert list(net.state_dict()) == list(before)
    for k, v in net.state_dict().items():
        assert v.data_ptr() == storage[k] and torch.equal(v, before[k]), k
    # the copy shares what it does not fold (no second model in memory)
    assert folded.layer1[0].conv1.weight is not net.layer1[0].conv1.weight
    # strides kept: a channels-last weight stays channels-last
    for name, conv in net.named_modules():
        if isinstance(conv, nn.Conv2d):
            new = folded.get_submodule(name).weight
            assert new.stride() == conv.weight.stride(), name


def test_classifier_folds_backbone_only_and_logits_match():
    """The demo's model (mmengine BaseModel, default forward = logits):
    every backbone BatchNorm folded, nothing in neck or head."""
    from mlic.utils import load_config, register_all_modules
    from mlic.registry import MODELS
    register_all_modules()
    cfg = load_config('configs/q2l_irpe/shapes_demo.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    _randomise_bn(model.backbone)
    model = model.double()
    model.eval()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    folded, report = fold_batchnorm(model, x[:1])
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert report.used and len(report.folded) == n_bn == 15  # 3 stages
    assert all(n.startswith('backbone.') for n in report.folded)
    with torch.no_grad():
        ref = model(x, mode='tensor')
        out = folded(x, mode='tensor')
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    # neck and head: other module objects, the same parameter tensors
    assert all(a is b for a, b in zip(folded.neck.parameters(),
                                      model.neck.parameters()))
    assert all(a is b for a, b in zip(folded.head.parameters(),
                                      model.head.parameters()))


def test_timm_batchnorm_act_keeps_its_activation():
    from timm.layers import BatchNormAct2d
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        BatchNormAct2d(8, act_layer=nn.LeakyReLU, act_kwargs=dict(
            negative_slope=0.1)))
    model = _randomise_bn(model).double().eval()
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    folded, report = fold_batchnorm(model, x, forward=_plain_fwd)
    assert report.used
    assert isinstance(folded[1], nn.Sequential)
    assert isinstance(folded[1][1], nn.LeakyReLU)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=0, atol=1e-10)


def _plain_fwd(m, x):
    return m(x)


class _ConvNorm(nn.Module):
    """A convolution and norms; each subclass wires them its own way."""

    def __init__(self, norms=1):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.bn = nn.BatchNorm2d(2)
        if norms == 2:
            self.bn2 = nn.BatchNorm2d(2)


class _ResidualBeforeNorm(_ConvNorm):
    """The convolution's output is used twice: bn(y) + y."""

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class _InPlaceBetween(_ConvNorm):

    def forward(self, x):
        y = self.conv(x)
        y.add_(1.0)
        return self.bn(y)


class _TwoNorms(_ConvNorm):

    def __init__(self):
        super().__init__(norms=2)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) * self.bn2(y)


def test_output_used_elsewhere_is_caught_by_the_check():
    model = _randomise_bn(_ResidualBeforeNorm()).eval()
    x = torch.randn(1, 2, 4, 4)
    pairs, _, _ = trace_conv_batchnorm_pairs(model, x, _plain_fwd)
    assert pairs == {'bn': 'conv'}  # what hooks can see ...
    folded, report = fold_batchnorm(model, x, forward=_plain_fwd)
    assert folded is model and not report.used  # ... the check refuses
    assert report.max_rel_diff > 0.01
    assert 'differ' in report.reason and 'unfolded' in report.reason


def test_a_refused_fold_warns_where_evaluation_runs():
    """fold_batchnorm_for_batch (what the loops and the inferencer call)
    says a refused fold as a warning and returns the model itself; a
    routine fold is only logged."""
    from mmengine.model import BaseModel

    from mlic.models.batchnorm_folding import fold_batchnorm_for_batch

    class Wrapped(BaseModel):

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.net(inputs)

    batch = dict(inputs=torch.randn(2, 2, 4, 4))
    bad = Wrapped(_randomise_bn(_ResidualBeforeNorm()))
    bad.eval()
    said = []
    with pytest.warns(UserWarning, match='differ from the model'):
        model, report = fold_batchnorm_for_batch(bad, batch, said.append)
    assert model is bad and not report.used and 'not folded' in said[0]
    good = Wrapped(_randomise_bn(nn.Sequential(nn.Conv2d(2, 2, 1),
                                               nn.BatchNorm2d(2))))
    good.eval()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        model, report = fold_batchnorm_for_batch(good, batch, said.append)
    assert report.used and model is not good
    assert said[1].startswith('folded 1 BatchNorm layers')


@pytest.mark.parametrize('cls,why', [
    (_InPlaceBetween, "not a convolution's output"),
    (_TwoNorms, 'feeds several norms')])
def test_pairs_that_are_not_folded(cls, why):
    model = _randomise_bn(cls()).eval()
    x = torch.randn(1, 2, 4, 4)
    folded, report = fold_batchnorm(model, x, forward=_plain_fwd)
    assert folded is model and not report.used
    assert all(why in r for r in report.skipped.values())
    assert 'no BatchNorm follows a convolution' in report.reason


def test_batchnorm_in_training_mode_or_batch_statistics_is_kept():
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2),
                          nn.Conv2d(2, 2, 1),
                          nn.BatchNorm2d(2, track_running_stats=False),
                          nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))
    model = _randomise_bn(model).eval()
    model[5].train()  # one BN forced to batch statistics
    x = torch.randn(3, 2, 4, 4)
    folded, report = fold_batchnorm(model, x, forward=_plain_fwd)
    assert report.used and report.folded == ['1']
    assert set(report.skipped) == {'3', '5'}
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5,
                                   atol=1e-6)


def test_refuses_a_model_in_training_mode_and_passes_bn_free_models():
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))
    with pytest.raises(ValueError, match='model.eval'):
        fold_batchnorm(model, torch.randn(1, 2, 2, 2), forward=_plain_fwd)
    free = nn.Sequential(nn.Conv2d(2, 2, 1), nn.LayerNorm(2)).eval()
    same, report = fold_batchnorm(free, torch.randn(1, 2, 2, 2),
                                  forward=_plain_fwd)
    assert same is free and 'no BatchNorm' in report.reason


def test_non_finite_outputs_are_not_blamed_on_folding():
    """NaN weights: the model's own output is NaN, so there is nothing to
    check a copy against; the model is evaluated as it is (its NaN scores
    are for the metric's check to report), with the true reason."""
    model = _randomise_bn(nn.Sequential(nn.Conv2d(2, 2, 1),
                                        nn.BatchNorm2d(2))).eval()
    with torch.no_grad():
        model[0].weight[0, 0] = float('nan')
    same, report = fold_batchnorm(model, torch.randn(1, 2, 3, 3),
                                  forward=_plain_fwd)
    assert same is model and not report.used
    assert report.max_rel_diff is None  # no comparison was made
    assert 'not finite' in report.reason and 'differ' not in report.reason


def test_a_copy_is_a_snapshot_of_the_weights():
    """The folded copy holds the folded weights of when it was made; a
    later change of the original shows only after folding again."""
    model = _randomise_bn(nn.Sequential(nn.Conv2d(2, 2, 1),
                                        nn.BatchNorm2d(2))).eval()
    x = torch.randn(1, 2, 3, 3)
    first, _ = fold_batchnorm(model, x, forward=_plain_fwd)
    snapshot = copy.deepcopy(first[0].weight.detach())
    with torch.no_grad():
        model[0].weight.mul_(3.0)
    torch.testing.assert_close(first[0].weight.detach(), snapshot)
    again, _ = fold_batchnorm(model, x, forward=_plain_fwd)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=1e-5, atol=1e-6)
