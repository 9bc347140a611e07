"""Every faster path equals the exact one it replaces: the multi-tensor
EMA, the channels-last classifier, the fused-kernel decoder
cross-attention (eval) and the fused AdamW the schedules use."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import ExponentialMovingAverage
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mlic.engine.hooks import DualEMAHook
from mlic.models import MultiLabelClassifier, MultiTensorEMA
from mlic.models.layers.attention import MultiheadAttentionWithMaps
from mlic.registry import MODELS
from mlic.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
        torch.nn.Conv2d(4, 2, 1, bias=False))


def _perturb(model, k):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        for b in model.buffers():
            if b.dtype.is_floating_point:
                b.add_(0.5 * k)
            else:
                b.add_(1)


@pytest.mark.parametrize('update_buffers', [True, False])
@pytest.mark.parametrize('interval', [1, 2])
def test_multi_tensor_ema_is_mmengine_ema_bit_for_bit(update_buffers,
                                                      interval):
    model = _cnn()
    args = dict(momentum=1 - 0.9997, interval=interval,
                update_buffers=update_buffers)
    reference = ExponentialMovingAverage(model, **args)
    fast = MultiTensorEMA(model, **args)
    for k in range(5):
        _perturb(model, k)
        reference.update_parameters(model)
        fast.update_parameters(model)
    ref, new = reference.module.state_dict(), fast.module.state_dict()
    assert ref.keys() == new.keys()
    for key in ref:
        assert torch.equal(ref[key], new[key]), key
    # and it moved: not a copy of the model, not the start
    weight = fast.module[0].weight
    assert not torch.equal(weight, model[0].weight)
    assert int(fast.steps) == 5


def test_dual_ema_hook_builds_the_multi_tensor_ema():
    register_all_modules()
    hook = DualEMAHook(decay=0.999)
    assert hook.ema_cfg['type'] == 'MultiTensorEMA'
    ema = MODELS.build(hook.ema_cfg, default_args=dict(model=_cnn()))
    assert type(ema) is MultiTensorEMA
    assert ema.momentum == pytest.approx(1e-3)


RESNET = dict(type='ResNet', depth=18, num_stages=2, strides=(1, 2),
              dilations=(1, 1), out_indices=(1, ))


def _classifier(channels_last, backbone=RESNET, channels=128):
    torch.manual_seed(0)
    return MultiLabelClassifier(
        backbone=backbone, neck=dict(type='GlobalAveragePooling'),
        head=dict(type='MultiLabelLinearClsHead', num_classes=3,
                  in_channels=channels),
        channels_last=channels_last)


def test_channels_last_classifier_same_values_and_keys():
    register_all_modules()
    with DefaultScope.overwrite_default_scope('mlic'):
        plain, fast = _classifier(False), _classifier(True)
    conv = fast.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not conv.is_contiguous()
    assert plain.backbone.conv1.weight.is_contiguous()
    assert plain.state_dict().keys() == fast.state_dict().keys()
    # a checkpoint of one loads into the other (the layout is not saved)
    fast.load_state_dict(plain.state_dict())
    assert fast.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32)
    samples = [DataSample().set_gt_label([0, 2]), DataSample().set_gt_label(
        [1])]
    for model in (plain, fast):
        model.train()
        model.zero_grad()
        loss = model(x, samples, mode='loss')['loss']
        loss.backward()
    torch.testing.assert_close(fast(x, samples, mode='loss')['loss'],
                               plain(x, samples, mode='loss')['loss'],
                               rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(plain.named_parameters(), fast.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5,
                                   msg=name)
    plain.eval()
    fast.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x, mode='tensor'),
                                   plain(x, mode='tensor'), rtol=1e-5,
                                   atol=1e-6)
        # the backbone really ran in channels-last
        feat = fast.extract_feat(x, stage='backbone')[-1]
        assert feat.is_contiguous(memory_format=torch.channels_last)
        assert not feat.is_contiguous()


def test_channels_last_initialises_the_same_model():
    """Same seed, same initial weights: random initialisers fill memory in
    order, so initialising channels-last weights directly would permute the
    draws (a different model, as if the seed had changed)."""
    register_all_modules()
    with DefaultScope.overwrite_default_scope('mlic'):
        plain, fast = _classifier(False), _classifier(True)
        torch.manual_seed(1)
        plain.init_weights()
        torch.manual_seed(1)
        fast.init_weights()
    ref = plain.state_dict()
    for key, value in fast.state_dict().items():
        assert torch.equal(value, ref[key]), key
    # kaiming really drew new values, and the layout is kept
    with DefaultScope.overwrite_default_scope('mlic'):
        assert not torch.equal(_classifier(False).backbone.conv1.weight,
                               plain.backbone.conv1.weight)
    assert fast.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert not fast.backbone.conv1.weight.is_contiguous()


# Small versions of the paper configs' backbones (all run channels-last).
CONFIG_BACKBONES = {
    'convnext_v2': (dict(type='ConvNeXt', arch='atto', use_grn=True,
                         layer_scale_init_value=0., out_indices=(3, ),
                         gap_before_final_norm=False), 320),
    'swin': (dict(type='SwinTransformer', arch='tiny', img_size=64,
                  window_size=4, pad_small_map=True, out_indices=(3, )), 768),
    'timm_tresnet': (dict(type='TIMMBackbone', model_name='tresnet_m',
                          pretrained=False), 2048),
}


@pytest.mark.parametrize('name', sorted(CONFIG_BACKBONES))
def test_channels_last_on_the_config_backbones(name):
    """Same initial weights and the same logits in NHWC as in NCHW."""
    register_all_modules()
    backbone, channels = CONFIG_BACKBONES[name]
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    out = {}
    for channels_last in (False, True):
        with DefaultScope.overwrite_default_scope('mlic'):
            model = _classifier(channels_last, backbone, channels)
            torch.manual_seed(1)
            model.init_weights()
        model.eval()
        with torch.no_grad():
            out[channels_last] = (model.state_dict(), model(x, mode='tensor'))
    for key, value in out[True][0].items():
        assert torch.equal(value, out[False][0][key]), key
    torch.testing.assert_close(out[True][1], out[False][1], rtol=1e-5,
                               atol=1e-6)


def test_cross_attention_fused_path_is_the_explicit_one():
    torch.manual_seed(0)
    attn = MultiheadAttentionWithMaps(16, 4, attn_drop=0.0).double().eval()
    query = torch.randn(3, 5, 16, dtype=torch.float64)
    memory = torch.randn(3, 7, 16, dtype=torch.float64)
    fast, none = attn(query, memory, memory)
    exact, maps = attn(query, memory, memory, need_weights=True)
    assert none is None and maps.shape == (3, 5, 7)
    torch.testing.assert_close(fast, exact, rtol=0, atol=1e-12)
    # an independent computation of softmax(q k^T / sqrt(d)) v
    q = attn.q_proj(query).view(3, 5, 4, 4).transpose(1, 2)
    k = attn.k_proj(memory).view(3, 7, 4, 4).transpose(1, 2)
    v = attn.v_proj(memory).view(3, 7, 4, 4).transpose(1, 2)
    w = (q @ k.transpose(-1, -2) / 2.0).softmax(-1)
    manual = attn.out_proj((w @ v).transpose(1, 2).reshape(3, 5, 16))
    torch.testing.assert_close(fast, manual, rtol=0, atol=1e-12)
    torch.testing.assert_close(maps, w.mean(1), rtol=0, atol=1e-12)


def test_cross_attention_training_keeps_the_explicit_path(monkeypatch):
    """Training (with dropout) never takes the fused call, so its dropout
    masks are drawn as they always were; eval without maps does."""
    import torch.nn.functional as F
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, 'scaled_dot_product_attention',
                        lambda *a, **k: calls.append(1) or sdpa(*a, **k))
    torch.manual_seed(0)
    attn = MultiheadAttentionWithMaps(16, 4, attn_drop=0.5).train()
    query, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    torch.manual_seed(1)
    a, _ = attn(query, memory, memory)
    torch.manual_seed(1)
    b, _ = attn(query, memory, memory)
    torch.testing.assert_close(a, b)  # same seed, same masks
    assert not torch.allclose(a, attn(query, memory, memory)[0])  # dropout
    # the explicit computation with the same dropout draw
    torch.manual_seed(1)
    q = attn.q_proj(query).view(2, 5, 4, 4).transpose(1, 2) / 2.0
    k = attn.k_proj(memory).view(2, 7, 4, 4).transpose(1, 2)
    v = attn.v_proj(memory).view(2, 7, 4, 4).transpose(1, 2)
    w = F.dropout((q @ k.transpose(-1, -2)).softmax(-1), p=0.5)
    manual = attn.out_proj((w @ v).transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(a, manual)
    assert calls == []
    attn.eval()
    attn(query, memory, memory)
    assert calls == [1]


SCHEDULES = sorted(glob.glob(osp.join(REPO, 'configs', '_base_',
                                      'schedules', '*.py')))


@pytest.mark.parametrize('path', SCHEDULES,
                         ids=[osp.basename(p) for p in SCHEDULES])
def test_the_schedules_run_fused_adamw(path):
    """On by default; one override turns it off (a device without a fused
    AdamW) and the built optimizer then runs per tensor."""
    register_all_modules()
    from mmengine.optim import build_optim_wrapper
    for fused in (True, False):
        cfg = Config.fromfile(path)
        assert cfg.optim_wrapper.optimizer.type == 'AdamW'
        assert cfg.optim_wrapper.optimizer.fused is True
        if not fused:
            cfg.merge_from_dict({'optim_wrapper.optimizer.fused': False})
        optim = build_optim_wrapper(_cnn(), dict(
            type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer))
        assert optim.optimizer.param_groups[0]['fused'] is fused


def test_fused_adamw_is_the_per_tensor_adamw():
    torch.manual_seed(0)
    shapes = [(64, 32), (128, ), (3, 3, 8, 8)]
    start = [torch.randn(s) for s in shapes]
    loop = [torch.nn.Parameter(t.clone()) for t in start]
    fused = [torch.nn.Parameter(t.clone()) for t in start]
    args = dict(lr=5e-5, betas=(0.9, 0.9999), weight_decay=5e-3)
    opt_loop = torch.optim.AdamW(loop, foreach=False, **args)
    opt_fused = torch.optim.AdamW(fused, fused=True, **args)
    for _ in range(20):
        for a, b in zip(loop, fused):
            g = torch.randn_like(a)
            a.grad, b.grad = g.clone(), g.clone()
        opt_loop.step()
        opt_fused.step()
    for a, b, s in zip(loop, fused, start):
        assert (a - s).abs().max() > 1e-4  # it moved
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('clip', [False, True])
def test_fused_adamw_under_the_fp16_loss_scaler(clip):
    """The paper configs' fp16 AMP: the scaler's steps (scale, backward,
    unscale + clip, step, update) drive the fused AdamW as the per-tensor
    one, and a step with an inf gradient is skipped by both."""
    torch.manual_seed(0)
    start = [torch.randn(8, 4), torch.randn(5),
             torch.randn(4, 3, 3, 3).contiguous(
                 memory_format=torch.channels_last)]

    def train(fused):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=1e-2,
                                fused=fused, foreach=not fused)
        scaler = torch.amp.GradScaler('cpu', init_scale=2.**10,
                                      growth_interval=2)
        for k in range(8):
            opt.zero_grad()
            loss = sum((p * (k + 1 + i)).sin().sum()
                       for i, p in enumerate(params))
            scaler.scale(loss).backward()
            if k == 3:
                params[0].grad[0, 0] = float('inf')
            if clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(opt)
            scaler.update()
        return params, opt, scaler

    loop, _, scaler_loop = train(False)
    fused, opt, scaler_fused = train(True)
    for a, b in zip(loop, fused):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
    assert scaler_fused.get_scale() == scaler_loop.get_scale() == 2.**12
    assert int(opt.state[fused[0]]['step']) == 7  # the inf step skipped
    assert (fused[0] - start[0]).abs().max() > 0.05  # and it trained
