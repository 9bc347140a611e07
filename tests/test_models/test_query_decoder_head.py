import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from mlic.models.heads import QueryDecoderHead
from mlic.registry import MODELS
from mlic.utils import register_all_modules


def _head(**kw):
    args = dict(num_classes=5, in_channels=16, num_layers=2, num_heads=2,
                feedforward_channels=32, dropout=0.0)
    args.update(kw)
    return QueryDecoderHead(**args)


def _has_sa(layer):
    return any('self_attn' in n for n, _ in layer.named_parameters())


def test_self_attention_switch_per_layer():
    assert not any(_has_sa(layer) for layer in _head().layers)
    second = _head(self_attn=[False, True])
    assert [_has_sa(layer) for layer in second.layers] == [False, True]
    both = _head(self_attn=True)
    assert all(_has_sa(layer) for layer in both.layers)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(both) > n(second) > n(_head())


def test_logits_are_group_wise_linear_and_maps_sum_to_one():
    torch.manual_seed(0)
    head = _head().eval()
    feats = (torch.randn(3, 16, 2, 3), )
    logits = head(feats)
    assert logits.shape == (3, 5)
    query, _ = head.decode(feats)
    manual = torch.stack([query[:, c] @ head.fc_weight[c] + head.fc_bias[c]
                          for c in range(5)], dim=1)
    torch.testing.assert_close(logits, manual)
    maps = head.attention_maps(feats)
    assert len(maps) == 2 and maps[0].shape == (3, 5, 2, 3)
    for m in maps:
        torch.testing.assert_close(m.sum(dim=(-1, -2)), torch.ones(3, 5))
    # the maps come from the same forward: decode with weights == logits
    query2, _ = head.decode(feats, need_weights=True)
    torch.testing.assert_close(query, query2)


def test_paper_queries_start_from_label_embeddings_q2l_from_zero():
    torch.manual_seed(0)
    head = _head(num_layers=1).eval()
    q2l = _head(num_layers=1, query_mode='q2l').eval()
    q2l.load_state_dict(head.state_dict())
    feats = (torch.randn(2, 16, 2, 2), )
    assert not torch.allclose(head(feats), q2l(feats))
    # paper form: the cross-attention query is the label embedding itself
    layer = head.layers[0]
    memory = feats[0].flatten(2).transpose(1, 2)
    embed = head.query_embed.unsqueeze(0).expand(2, -1, -1)
    out, _ = layer.cross_attn(embed, memory, memory)
    x = layer.norm_ca(embed + out)
    x = layer.norm_ffn(x + layer.ffn(x))
    torch.testing.assert_close(head.decode(feats)[0], x)


def test_loss_and_predict_follow_mmpretrain():
    head = _head()
    feats = (torch.randn(2, 16, 2, 2), )
    samples = [DataSample().set_gt_label([0, 3]), DataSample().set_gt_label([])]
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss'} and torch.isfinite(losses['loss'])
    preds = head.predict(feats)
    assert preds[0].pred_score.shape == (5, )
    assert 0 <= preds[0].pred_score.min() and preds[0].pred_score.max() <= 1


def test_bad_configuration_names_both_values():
    with pytest.raises(ValueError, match=r'self_attn has 3 entries.*num_layers=2'):
        _head(self_attn=[False, True, True])
    with pytest.raises(ValueError, match=r'in_channels=16.*\(1, 32, 2, 2\)'):
        _head()((torch.randn(1, 32, 2, 2), ))
    with pytest.raises(ValueError, match='query_mode'):
        _head(query_mode='detr')


def test_tiny_full_model_overfits_a_fixed_batch():
    """backbone -> IRPE encoder -> decoder on 8 shapes images."""
    from mlic.datasets import render_image
    from mlic.evaluation import multilabel_metrics
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mlic'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, stem_channels=16,
                          base_channels=16, num_stages=3, out_indices=(2, ),
                          strides=(1, 2, 2), dilations=(1, 1, 1)),
            neck=dict(type='IRPETransformerEncoder', in_channels=64,
                      embed_dims=64, num_heads=4, feedforward_channels=128,
                      feat_size=4, dropout=0.0),
            head=dict(type='QueryDecoderHead', num_classes=12,
                      in_channels=64, num_heads=4, feedforward_channels=128,
                      dropout=0.0)))
    imgs, targets = [], []
    for i in range(8):
        img, objs = render_image(0, 'train', i, 64)
        imgs.append(torch.from_numpy(img).permute(2, 0, 1).float() / 64 - 2)
        targets.append(sorted({o[0] for o in objs}))
    x = torch.stack(imgs)
    samples = [DataSample().set_gt_label(t) for t in targets]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    first = None
    for _ in range(150):
        loss = model(x, samples, mode='loss')['loss']
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    model.eval()
    with torch.no_grad():
        scores = torch.stack([s.pred_score for s in
                              model(x, [DataSample() for _ in targets],
                                    mode='predict')])
    onehot = np.zeros((8, 12))
    for i, t in enumerate(targets):
        onehot[i, t] = 1
    assert multilabel_metrics(scores, onehot)['mAP'] == pytest.approx(100.0)


def test_ignored_labels_have_no_loss():
    """VOC difficult-only classes: weight 0, unless also a positive."""
    from mlic.models.heads.query_decoder_head import ignored_label_weight
    from mlic.registry import MODELS as REG
    torch.manual_seed(0)
    head = REG.build(dict(type='QueryDecoderHead', num_classes=4,
                          in_channels=8, num_layers=1, num_heads=2,
                          feedforward_channels=16, dropout=0.0))
    feats = (torch.randn(2, 8, 2, 2), )
    s0 = DataSample().set_gt_label([0])
    s0.set_field([2, 0], 'gt_label_difficult')  # 0 is also positive
    s1 = DataSample().set_gt_label([1])
    w = ignored_label_weight([s0, s1], 4)
    assert w.tolist() == [[1, 1, 0, 1], [1, 1, 1, 1]]
    assert ignored_label_weight([s1, s1], 4) is None
    loss = head.loss(feats, [s0, s1])['loss']
    # independent: the element-wise loss without entry (0, 2), / batch
    logits = head(feats)
    target = torch.tensor([[1., 0, 0, 0], [0, 1, 0, 0]])
    elem = head.loss_module(logits, target, reduction_override='none')
    expect = (elem.sum() - elem[0, 2]) / 2
    torch.testing.assert_close(loss, expect)


def test_logits_are_float32_under_autocast():
    """Under bf16 autocast the neck hands the head bf16 features and the
    decoder runs in bf16; the label classifier still computes in float32:
    the logits are the float32 group-wise linear of the decoder output, not
    rounded to bf16 (3 digits, which ties images in AP's ranking)."""
    torch.manual_seed(0)
    head = _head(in_channels=64).eval()
    feats = (torch.randn(3, 64, 2, 3).bfloat16(), )  # as the neck's output
    with torch.autocast('cpu', dtype=torch.bfloat16):
        query = head.pre_logits(feats)
        logits = head(feats)
    assert query.dtype == torch.bfloat16  # the decoder really ran in bf16
    assert logits.dtype == torch.float32
    manual = (query.double() * head.fc_weight.double()).sum(-1) + \
        head.fc_bias.double()
    torch.testing.assert_close(logits.double(), manual, rtol=1e-6,
                               atol=1e-6)
    rounded = manual.bfloat16().double()  # what bf16 logits would carry
    assert (rounded - manual).abs().max() > 1e-3
