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
    from mlic.models.heads.query_decoder_head import label_state_matrix
    from mlic.registry import MODELS as REG
    torch.manual_seed(0)
    head = REG.build(dict(type='QueryDecoderHead', num_classes=4,
                          in_channels=8, num_layers=1, num_heads=2,
                          feedforward_channels=16, dropout=0.0))
    feats = (torch.randn(2, 8, 2, 2), )
    s0 = DataSample().set_gt_label([0])
    s0.set_field([2, 0], 'gt_label_difficult')  # 0 is also positive
    s1 = DataSample().set_gt_label([1])
    states = label_state_matrix([s0, s1], 4)
    assert states.tolist() == [[1, 0, -2, 0], [0, 1, 0, 0]]
    assert label_state_matrix([s1, s1], 4) is None
    # empty state lists are plain labels too; a negatives list (even
    # empty) makes every unlisted class unknown
    s2 = DataSample().set_gt_label([3])
    s2.set_field([], 'gt_label_difficult')
    s2.set_field([], 'gt_label_unknown')
    assert label_state_matrix([s1, s2], 4) is None
    s3 = DataSample().set_gt_label([3])
    s3.set_field([], 'gt_label_negative')
    assert label_state_matrix([s1, s3], 4).tolist() == \
        [[0, 1, 0, 0], [-1, -1, -1, 1]]
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


# -- grouped label queries (ML-Decoder's group decoding) ---------------------

def test_num_queries_equal_to_classes_is_the_paper_head():
    """Same parameters (a checkpoint of one loads into the other), same
    random initialisation, bit-identical logits and maps."""
    torch.manual_seed(0)
    paper = _head(num_classes=7).eval()
    torch.manual_seed(0)
    full = _head(num_classes=7, num_queries=7).eval()
    assert {k: v.shape for k, v in paper.state_dict().items()} == \
        {k: v.shape for k, v in full.state_dict().items()}
    for k, v in paper.state_dict().items():
        assert torch.equal(v, full.state_dict()[k]), k
    feats = (torch.randn(2, 16, 3, 2), )
    assert torch.equal(paper(feats), full(feats))
    for a, b in zip(paper.attention_maps(feats), full.attention_maps(feats)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('classes,queries', [(12, 4), (10, 4), (9, 3),
                                             (7, 1)])
def test_grouped_logits_equal_an_independent_computation(classes, queries):
    """Query k decodes classes k*g .. k*g+g-1 (g = ceil(C/K)); each class
    its own weight vector and bias. Checked in float64 against a loop over
    classes."""
    torch.manual_seed(1)
    head = _head(num_classes=classes, num_queries=queries).double().eval()
    g = -(-classes // queries)
    assert head.query_embed.shape == (queries, 16)
    assert head.fc_weight.shape == (classes, 16)
    feats = (torch.randn(3, 16, 2, 2, dtype=torch.float64), )
    query, _ = head.decode(feats)
    assert query.shape == (3, queries, 16)
    manual = torch.stack([query[:, c // g] @ head.fc_weight[c]
                          + head.fc_bias[c] for c in range(classes)], dim=1)
    torch.testing.assert_close(head(feats), manual, rtol=0, atol=1e-12)
    maps = head.attention_maps(feats)
    assert maps[0].shape == (3, classes, 2, 2)
    raw = head.decode(feats, need_weights=True)[1]
    for c in range(classes):  # each class shows its group's map
        assert torch.equal(maps[-1][:, c], raw[-1][:, c // g])


def test_a_query_without_classes_is_refused():
    with pytest.raises(ValueError, match=r'num_queries=6 for 10 classes.*'
                       r'1 would decode no class.*num_queries=5'):
        _head(num_classes=10, num_queries=6)
    with pytest.raises(ValueError, match=r'must be in \[1, num_classes=5\]'):
        _head(num_classes=5, num_queries=8)


@pytest.mark.parametrize('value', [2.5, True, '4', 4.0])
def test_num_queries_must_be_a_whole_number(value):
    with pytest.raises(TypeError, match=rf'num_queries={value!r} .* must be '
                       'a whole number'):
        _head(num_classes=8, num_queries=value)
    assert _head(num_classes=8, num_queries=np.int64(4)).num_queries == 4


def test_grouped_head_trains_with_ignored_labels_and_every_loss():
    """Every loss of the family (APL, ASL, focal, BCE settings) trains the
    grouped head; ignored labels get no gradient."""
    from mmpretrain.structures import DataSample
    bce = dict(gamma_pos=0, gamma_neg=0, clip=0, alpha1=1, alpha2=0.5)
    focal = dict(gamma_pos=2, gamma_neg=2, clip=0, alpha1=1, alpha2=0.5)
    asl = dict(gamma_pos=0, gamma_neg=2, clip=0.05, alpha1=1, alpha2=0.5)
    for extra in ({}, asl, focal, bce):
        torch.manual_seed(0)
        head = _head(num_classes=9, num_queries=3,
                     loss=dict(type='AsymmetricPolynomialLoss', **extra))
        feats = (torch.randn(2, 16, 2, 2), )
        samples = [DataSample().set_gt_label([0, 4]),
                   DataSample().set_gt_label([8])]
        samples[1].set_field(torch.tensor([2, 3]), 'gt_label_ignore',
                             field_type='metainfo')
        losses = head.loss(feats, samples)
        losses['loss'].backward()
        assert torch.isfinite(losses['loss'])
        assert head.query_embed.grad.abs().sum() > 0
        score = head(feats).detach().requires_grad_()
        head._get_loss(score, samples)['loss'].backward()
        assert torch.all(score.grad[1, [2, 3]] == 0)
        assert torch.all(score.grad[0, [2, 3]] != 0)
