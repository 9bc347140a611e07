import pytest
import torch

from mlic.models.necks import PAPER_RPE, IRPETransformerEncoder
from mlic.registry import MODELS
from mlic.utils import register_all_modules


def _neck(**kw):
    args = dict(in_channels=16, embed_dims=32, num_heads=4,
                feedforward_channels=64, dropout=0.0, feat_size=(3, 4))
    args.update(kw)
    return IRPETransformerEncoder(**args)


def test_output_is_a_map_and_non_square_grids_work():
    neck = _neck().eval()
    x = torch.randn(2, 16, 3, 4)
    (out, ) = neck((torch.randn(2, 8, 6, 8), x))  # uses the last map
    assert out.shape == (2, 32, 3, 4)
    assert neck.layers[0].attn.rpe is not None
    assert neck.layers[0].attn.rpe.on == ('q', 'k', 'v')
    (one, ) = neck(x[:1])  # batch size does not matter
    torch.testing.assert_close(one, out[:1], rtol=1e-5, atol=1e-5)


def test_tokens_are_row_major_and_positions_matter():
    """A permutation of the input cells must not permute the output alike:
    the position embedding and IRPE make the encoder position-aware."""
    torch.manual_seed(0)
    neck = _neck().eval()
    x = torch.randn(1, 16, 3, 4)
    (out, ) = neck(x)
    flipped = neck(x.flip(-1))[0].flip(-1)
    assert not torch.allclose(out, flipped, atol=1e-4)


def test_matches_a_direct_composition():
    """proj -> + pos -> flatten -> layers, row-major, recomposed by hand."""
    torch.manual_seed(0)
    neck = _neck(num_layers=2).eval()
    x = torch.randn(2, 16, 3, 4)
    tokens = (neck.input_proj(x) + neck.pos_embed).flatten(2).transpose(1, 2)
    for layer in neck.layers:
        tokens = layer(tokens, 3, 4)
    ref = tokens.transpose(1, 2).reshape(2, 32, 3, 4)
    torch.testing.assert_close(neck(x)[0], ref)


def test_position_embedding_resize():
    from mmengine.logging import MMLogger
    import logging
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    handler = Keep()
    logger.addHandler(handler)
    try:
        neck = _neck(feat_size=4)
        pos = neck.position_embedding(4, 4)
        assert pos is neck.pos_embed
        big = neck.position_embedding(6, 5)
        assert big.shape == (1, 32, 6, 5)
        torch.testing.assert_close(big, torch.nn.functional.interpolate(
            neck.pos_embed, size=(6, 5), mode='bicubic',
            align_corners=False))
        (out, ) = neck(torch.randn(1, 16, 6, 5))
        assert out.shape == (1, 32, 6, 5)
    finally:
        logger.removeHandler(handler)
    # one log line per new size, not one per forward
    assert sum('feature map 6x5 differs' in r for r in records) == 1


def test_three_ablation_variants_are_one_argument_apart():
    irpe = _neck()
    standard = _neck(rpe=None)
    none = _neck(num_layers=0)
    assert standard.layers[0].attn.rpe is None
    assert len(none.layers) == 0
    x = torch.randn(2, 16, 3, 4)
    (out, ) = none.eval()(x)
    ref = (none.input_proj(x) + none.pos_embed)
    torch.testing.assert_close(out, ref)
    n_irpe = sum(p.numel() for p in irpe.parameters())
    n_std = sum(p.numel() for p in standard.parameters())
    assert n_irpe - n_std == 3 * 49 * (32 // 4)  # q, k, v shared tables


def test_registered_and_pre_norm():
    register_all_modules(init_default_scope=False)
    neck = MODELS.build(dict(type='IRPETransformerEncoder', in_channels=8,
                             embed_dims=16, num_heads=2, feat_size=2,
                             feedforward_channels=32, norm_first=True))
    assert neck.rpe_cfg == PAPER_RPE
    assert isinstance(neck.final_norm, torch.nn.LayerNorm)
    (out, ) = neck(torch.randn(1, 8, 2, 2))
    assert out.shape == (1, 16, 2, 2)


def test_gradients_reach_every_parameter():
    neck = _neck(rpe=dict(PAPER_RPE, shared_head=False)).train()
    (out, ) = neck(torch.randn(2, 16, 3, 4))
    out.square().mean().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kwargs,match', [
    (dict(embed_dims=30, num_heads=4), 'embed_dims.*30.*num_heads=4'),
    (dict(rpe=dict(method='diag')), "unknown method 'diag'"),
    (dict(rpe=dict(mode='mul')), "unknown mode 'mul'"),
    (dict(rpe=dict(on='z')), "on='z'"),
    (dict(rpe=dict(ratio=0.0)), 'ratio=0.0'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _neck(**kwargs)


def test_wrong_channel_count_is_named():
    with pytest.raises(ValueError, match=r'in_channels=16.*\(1, 12, 3, 4\)'):
        _neck()(torch.randn(1, 12, 3, 4))


@pytest.mark.parametrize('variant', [dict(), dict(rpe=None),
                                     dict(num_layers=0)],
                         ids=['irpe', 'standard', 'none'])
def test_each_ablation_variant_trains(variant):
    """A small encoder + linear probe learns a position-dependent target."""
    torch.manual_seed(0)
    neck = _neck(**variant)
    probe = torch.nn.Linear(32 * 12, 1)
    opt = torch.optim.Adam(list(neck.parameters()) + list(probe.parameters()),
                           lr=3e-3)
    x = torch.randn(16, 16, 3, 4)
    y = x[:, 0, 0, 0:1] - x[:, 1, 2, 3:4]  # depends on where the values are
    losses = []
    for _ in range(60):
        pred = probe(neck(x)[0].flatten(1))
        loss = torch.nn.functional.mse_loss(pred, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
