"""Pretrained weights in public naming load into the modules the configs use.

Each conversion is checked numerically: a timm / torchvision model with
random weights is saved in its own naming, loaded into the mmpretrain
module, and both must compute the same features.
"""
import os.path as osp

import pytest
import timm
import torch
import torchvision
from mmpretrain.models import ConvNeXt, ResNet, SwinTransformer, TIMMBackbone

from mlic.models.pretrained import (PretrainedWeightsError, load_pretrained,
                                    resolve_checkpoint, unfold_order)
from mlic.registry import WEIGHT_INITIALIZERS


def _randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                if name.endswith('running_var'):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model.eval()


def _save(state, path):
    torch.save(state, path)
    return str(path)


def test_torchvision_resnet(tmp_path):
    tv = _randomise(torchvision.models.resnet18())
    path = _save(tv.state_dict(), tmp_path / 'resnet18-f37072fd.pth')
    mm = ResNet(depth=18, out_indices=(3, ))
    mm.eval()  # mmpretrain's ResNet.train() returns None
    report = load_pretrained(mm, path)
    assert report['format'] == 'torchvision_resnet'
    assert report['unexpected'] == [] and report['missing'] == []
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = torch.nn.Sequential(*list(tv.children())[:-2])(x)
        out = mm(x)[0]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_timm_convnext_v2(tmp_path):
    t = _randomise(timm.create_model('convnextv2_atto'))
    path = _save(t.state_dict(), tmp_path / 'convnextv2_atto.pth')
    mm = ConvNeXt(arch='atto', use_grn=True, layer_scale_init_value=0.,
                  out_indices=(3, ), gap_before_final_norm=False)
    mm.eval()
    report = load_pretrained(mm, path)
    assert report['format'] == 'timm_convnext'
    assert report['missing'] == []
    assert report['unexpected'] == []  # head.fc dropped by the converter
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = t.forward_features(x)  # (B, C, h, w) before the head
        # mmpretrain applies the head's (channels-first) LayerNorm to the
        # spatial map instead of after pooling
        ref = t.head.norm(feats)
        out = mm(x)[0]
    assert out.shape == (2, 320, 2, 2)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_unfold_order_matches_patch_merging():
    """Concatenation order -> nn.Unfold order, on an actual 2x2 merge."""
    c = 3
    x = torch.randn(1, 4, 4, c)  # B H W C
    cat = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2],
                     x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    unfold = torch.nn.functional.unfold(
        x.permute(0, 3, 1, 2), kernel_size=2, stride=2).transpose(1, 2)
    w = torch.randn(5, 4 * c)
    torch.testing.assert_close(
        (cat.reshape(1, 4, 4 * c) @ w.T), unfold @ unfold_order(w).T)


def test_timm_swin(tmp_path):
    t = _randomise(timm.create_model('swin_tiny_patch4_window7_224'))
    path = _save(t.state_dict(), tmp_path / 'swin_tiny.pth')
    mm = SwinTransformer(arch='tiny', img_size=224, out_indices=(3, ))
    mm.eval()
    report = load_pretrained(mm, path)
    assert report['format'] == 'timm_swin'
    assert all(k.endswith('relative_position_index')
               for k in report['missing'])
    assert report['unexpected'] == []
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref = t.forward_features(x).permute(0, 3, 1, 2)  # NHWC -> NCHW
        out = mm(x)[0]
    assert out.shape == ref.shape == (1, 768, 7, 7)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_timm_backbone_tresnet_unpooled(tmp_path):
    t = _randomise(timm.create_model('tresnet_m'))
    path = _save(t.state_dict(), tmp_path / 'tresnet_m.pth')
    mm = TIMMBackbone('tresnet_m', pretrained=False)
    mm.eval()
    report = load_pretrained(mm, path)
    assert report['format'] == 'timm' and report['missing'] == []
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = mm(x)[0]
        ref = t.forward_features(x)
    assert out.shape == (1, 2048, 2, 2)  # a feature map, not pooled
    torch.testing.assert_close(out, ref)


def test_safetensors_and_mmpretrain_naming(tmp_path):
    from safetensors.torch import save_file
    tv = _randomise(torchvision.models.resnet18())
    sd = {'backbone.' + k: v for k, v in tv.state_dict().items()
          if not k.startswith('fc.')}
    sd['head.fc.weight'] = torch.zeros(3, 512)
    save_file(sd, str(tmp_path / 'w.safetensors'))
    mm = ResNet(depth=18, out_indices=(3, ))
    report = load_pretrained(mm, str(tmp_path / 'w.safetensors'))
    assert report['format'] == 'mmpretrain' and report['missing'] == []
    torch.testing.assert_close(mm.conv1.weight, tv.conv1.weight)


def test_wrong_model_and_missing_keys_are_clear(tmp_path):
    tv = torchvision.models.resnet18()
    path = _save(tv.state_dict(), tmp_path / 'r18.pth')
    with pytest.raises(PretrainedWeightsError, match='do not fit.*layer'):
        load_pretrained(ResNet(depth=50, out_indices=(3, )), path)
    part = {k: v for k, v in tv.state_dict().items()
            if not k.startswith('layer4')}
    path = _save(part, tmp_path / 'part.pth')
    with pytest.raises(PretrainedWeightsError, match='lack .*layer4'):
        load_pretrained(ResNet(depth=18, out_indices=(3, )), path)
    report = load_pretrained(ResNet(depth=18, out_indices=(3, )), path,
                             strict=False)
    assert any(k.startswith('layer4') for k in report['missing'])


def test_missing_file_and_offline_errors(tmp_path, monkeypatch):
    with pytest.raises(PretrainedWeightsError,
                       match='not found: /no/such/file.pth'):
        resolve_checkpoint('/no/such/file.pth')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setenv('MLIC_PRETRAINED_DIR', str(tmp_path / 'w'))
    # Port 9 on localhost refuses at once: the offline case, no network.
    url = 'http://127.0.0.1:9/resnet101-63fe2227.pth'
    with pytest.raises(PretrainedWeightsError) as err:
        resolve_checkpoint(url)
    msg = str(err.value)
    assert url in msg and 'MLIC_PRETRAINED_DIR' in msg
    assert 'model.backbone.init_cfg.checkpoint' in msg
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    with pytest.raises(PretrainedWeightsError) as err:
        resolve_checkpoint('timm/tresnet_l.miil_in1k_448')
    assert 'tresnet_l.miil_in1k_448.safetensors' in str(err.value)
    (tmp_path / 'bad.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(PretrainedWeightsError, match='cannot read'):
        load_pretrained(ResNet(depth=18), str(tmp_path / 'bad.pth'))


def test_local_dir_overrides_url_and_hub(tmp_path, monkeypatch):
    tv = torchvision.models.resnet18()
    (tmp_path / 'w').mkdir()
    _save(tv.state_dict(), tmp_path / 'w' / 'resnet18-f37072fd.pth')
    t = timm.create_model('convnextv2_atto')
    _save(t.state_dict(), tmp_path / 'w' / 'convnextv2_atto.fcmae.pth')
    monkeypatch.setenv('MLIC_PRETRAINED_DIR', str(tmp_path / 'w'))
    path = resolve_checkpoint(
        'https://download.pytorch.org/models/resnet18-f37072fd.pth')
    assert path == osp.join(str(tmp_path / 'w'), 'resnet18-f37072fd.pth')
    path = resolve_checkpoint('timm/convnextv2_atto.fcmae')
    assert path.endswith('convnextv2_atto.fcmae.pth')


def test_init_cfg_pretrained_runs_after_backbone_init(tmp_path):
    """type='Pretrained' in mlic's scope is ours and wins over init."""
    from mlic.utils import register_all_modules
    register_all_modules()
    assert WEIGHT_INITIALIZERS.get('Pretrained').__module__ == \
        'mlic.models.pretrained.loading'
    tv = _randomise(torchvision.models.resnet18())
    path = _save(tv.state_dict(), tmp_path / 'r18.pth')
    mm = ResNet(depth=18, out_indices=(3, ), zero_init_residual=True,
                init_cfg=dict(type='Pretrained', checkpoint=path))
    mm.init_weights()
    torch.testing.assert_close(mm.layer1[0].bn2.weight, tv.layer1[0].bn2.weight)
    assert mm.layer1[0].bn2.weight.abs().sum() > 0


def test_mmengine_schemes_still_work(tmp_path):
    """Configs written for mmengine's Pretrained (torchvision://, ...) load
    through mmengine's CheckpointLoader; a registered scheme stands in for
    the network here."""
    from mmengine.runner.checkpoint import CheckpointLoader
    tv = _randomise(torchvision.models.resnet18())

    @CheckpointLoader.register_scheme(prefixes='mlictest://', force=True)
    def _load(filename, map_location=None):
        return {k: v.clone() for k, v in tv.state_dict().items()}

    mm = ResNet(depth=18, out_indices=(3, ))
    report = load_pretrained(mm, 'mlictest://resnet18')
    assert report['format'] == 'torchvision_resnet'
    torch.testing.assert_close(mm.conv1.weight, tv.conv1.weight)
    with pytest.raises(PretrainedWeightsError, match='nosuchscheme://x'):
        load_pretrained(mm, 'nosuchscheme://x')
