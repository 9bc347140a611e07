"""PartialLabelLoss: every mode against a hand-computed case (values and
gradients), with BCE as the base so that l+ = -log s(x), l- = -log(1-s(x))
and their derivatives s(x) - 1 and s(x) are exact."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mlic.models.losses import PartialLabelLoss
from mlic.registry import MODELS

BCE = dict(type='AsymmetricPolynomialLoss', gamma_pos=0, gamma_neg=0,
           clip=0.0, alpha1=1.0, alpha2=0.5, beta1=1.0)


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _lpos(x):
    return -math.log(_sig(x))


def _lneg(x):
    return -math.log(1.0 - _sig(x))


LOGITS = [[2.0, -1.0, 0.5, -0.3], [0.1, 1.5, -2.0, 0.7]]
LABELS = [[1, 0, -1, -1], [-1, 1, 0, -1]]


def _expected(w_pos, w_neg, batch=2):
    """The loss and its gradient, from per-entry weights (lists)."""
    value, grad = 0.0, []
    for i, row in enumerate(LOGITS):
        g = []
        for c, x in enumerate(row):
            value += w_pos[i][c] * _lpos(x) + w_neg[i][c] * _lneg(x)
            g.append((w_pos[i][c] * (_sig(x) - 1) + w_neg[i][c] * _sig(x))
                     / batch)
        grad.append(g)
    return value / batch, grad


def _run(loss, labels=LABELS):
    x = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(labels, dtype=torch.float64)
    value = loss(x, y, avg_factor=2)
    (grad, ) = torch.autograd.grad(value, x)
    return value.item(), grad.tolist()


def _check(loss, w_pos, w_neg, labels=LABELS):
    value, grad = _run(loss, labels)
    want, want_grad = _expected(w_pos, w_neg)
    assert value == pytest.approx(want, rel=1e-9)
    assert grad == [pytest.approx(g, rel=1e-9, abs=1e-12) for g in want_grad]


POS = [[1, 0, 0, 0], [0, 1, 0, 0]]
KNOWN_NEG = [[0, 1, 0, 0], [0, 0, 1, 0]]
UNKNOWN = [[0, 0, 1, 1], [1, 0, 0, 1]]


def _add(a, b, scale=1.0):
    return [[x + scale * y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def test_ignore_counts_known_labels_only():
    _check(PartialLabelLoss('ignore', base=BCE), POS, KNOWN_NEG)


def test_negative_and_weak_negative():
    _check(PartialLabelLoss('negative', base=BCE), POS,
           _add(KNOWN_NEG, UNKNOWN))
    _check(PartialLabelLoss('negative', base=BCE, negative_weight=0.25), POS,
           _add(KNOWN_NEG, UNKNOWN, 0.25))
    # Cole et al.'s WAN: 1/(C-1) = 1/3 for four classes
    _check(PartialLabelLoss('negative', base=BCE, negative_weight='wan'),
           POS, _add(KNOWN_NEG, UNKNOWN, 1 / 3))


def test_selective_spares_the_likely_positives():
    loss = PartialLabelLoss('selective', base=BCE)
    loss.train()
    # priors from this batch: class 0: 1 positive of 1 known -> 1.0;
    # class 1: 1 of 2 -> 0.5; class 2: 0 of 1 -> 0; class 3: no known -> 0.
    # image 0 (unknown 2, 3): expected positives 0 + 0 -> spares none;
    # image 1 (unknown 0, 3): 1.0 + 0 -> spares its top-scored unknown,
    # class 3 (logit 0.7 > 0.1).
    spared = [[0, 0, 0, 0], [0, 0, 0, 1]]
    as_neg = [[u - s for u, s in zip(ru, rs)]
              for ru, rs in zip(UNKNOWN, spared)]
    _check(loss, POS, _add(KNOWN_NEG, as_neg))
    assert loss.positive_count.tolist() == [1, 1, 0, 0]
    assert loss.known_count.tolist() == [1, 2, 1, 0]
    loss.eval()  # evaluation does not count
    _run(loss)
    assert loss.known_count.tolist() == [1, 2, 1, 0]


def test_selective_priors_are_kept_in_the_state_dict():
    loss = PartialLabelLoss('selective', base=BCE)
    _run(loss)
    again = PartialLabelLoss('selective', base=BCE)
    again.load_state_dict(loss.state_dict())
    assert again.positive_count.tolist() == [1, 1, 0, 0]
    assert again.known_count.tolist() == [1, 2, 1, 0]


def test_selective_prior_from_every_label_seen():
    """prior='images': positives / labels not ignored (unknowns count as
    negatives). Class 0: 1 positive of 2 -> 0.5; class 1: 1 of 2 -> 0.5;
    class 2: 0 of 2; class 3: 0 of 2. Image 0 (unknown 2, 3): 0 -> spares
    none; image 1 (unknown 0, 3): 0.5 + 0 rounds to 0 (half to even) ->
    none: every unknown is a negative."""
    loss = PartialLabelLoss('selective', base=BCE, prior='images')
    loss.train()
    _check(loss, POS, _add(KNOWN_NEG, UNKNOWN))
    assert loss.positive_count.tolist() == [1, 1, 0, 0]
    assert loss.known_count.tolist() == [2, 2, 2, 2]


def test_selective_fixed_priors():
    """Fixed priors [0.9, 0, 0, 0.8]: image 0 (unknown 2, 3) expects
    0 + 0.8 -> spares its top-scored unknown, class 2 (0.5 > -0.3); image 1
    (unknown 0, 3) expects 0.9 + 0.8 = 1.7 -> spares both."""
    loss = PartialLabelLoss('selective', base=BCE, prior=[0.9, 0, 0, 0.8])
    loss.train()
    spared = [[0, 0, 1, 0], [1, 0, 0, 1]]
    as_neg = [[u - s for u, s in zip(ru, rs)]
              for ru, rs in zip(UNKNOWN, spared)]
    _check(loss, POS, _add(KNOWN_NEG, as_neg))
    assert float(loss.known_count.sum()) == 0  # nothing counted
    with pytest.raises(ValueError, match='prior lists 3 classes but the '
                       'model has 4'):
        _run(PartialLabelLoss('selective', base=BCE, prior=[0.1] * 3))


def test_selective_known_prior_warns_once_without_negatives(monkeypatch):
    """Positives only (one positive per image): with prior='known' every
    class with a positive has prior 1 (classes 0, 1; 2 and 3 have no label
    at all: 0). Image 0 (unknown 1, 2, 3) expects 1 -> spares class 2
    (0.5); image 1 (unknown 0, 2, 3) expects 1 -> spares class 3 (0.7). A
    warning says so, once."""
    from mlic.models.losses import partial_label_loss as module
    said = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kw: said.append(msg))
    loss = PartialLabelLoss('selective', base=BCE)
    loss.train()
    single = [[1, -1, -1, -1], [-1, 1, -1, -1]]
    _check(loss, POS, [[0, 1, 0, 1], [1, 0, 1, 0]], labels=single)
    _run(loss, single)
    assert len(said) == 1 and "prior='images'" in said[0]
    # a known negative anywhere: no warning
    said.clear()
    _run(PartialLabelLoss('selective', base=BCE).train())
    assert said == []


@pytest.mark.parametrize('correction', ['reject', 'flip'])
def test_large_loss_drops_or_flips_the_largest(correction, monkeypatch):
    loss = PartialLabelLoss('large_loss', base=BCE, correction=correction,
                            rate_per_epoch=0.1)
    # epoch 0: nothing rejected, every unknown a negative
    monkeypatch.setattr('mlic.models.losses.partial_label_loss.'
                        '_current_epoch', lambda: 0)
    _check(loss, POS, _add(KNOWN_NEG, UNKNOWN))
    # epoch 4: rate 0.4 of 4 unknowns -> ceil(1.6) = 2 with the largest l-
    # (the largest logits among unknowns: 0.7 at (1, 3), 0.5 at (0, 2))
    monkeypatch.setattr('mlic.models.losses.partial_label_loss.'
                        '_current_epoch', lambda: 4)
    assert loss.large_loss_rate() == pytest.approx(0.4)
    picked = [[0, 0, 1, 0], [0, 0, 0, 1]]
    as_neg = [[u - p for u, p in zip(ru, rp)]
              for ru, rp in zip(UNKNOWN, picked)]
    w_pos = _add(POS, picked) if correction == 'flip' else POS
    _check(loss, w_pos, _add(KNOWN_NEG, as_neg))


def test_large_loss_rate_is_capped():
    loss = PartialLabelLoss('large_loss', base=BCE, rate_per_epoch=0.1,
                            max_rate=0.25)
    assert loss.large_loss_rate(epoch=10) == 0.25


def test_expected_positive_regularisation():
    loss = PartialLabelLoss('epr', base=BCE, expected_positives=1.5,
                            epr_weight=2.0)
    value, grad = _run(loss)
    base, base_grad = _expected(POS, KNOWN_NEG)
    p = [[_sig(x) for x in row] for row in LOGITS]
    k_hat = (sum(p[0]) + sum(p[1])) / 2
    assert value == pytest.approx(base + 2.0 * (k_hat - 1.5)**2 / 4)
    # d/dx of 2 (k_hat - k)^2 / C = 2 * 2 (k_hat - k) / C * s(1-s) / B
    for i in range(2):
        for c in range(4):
            reg = 4 * (k_hat - 1.5) / 4 * p[i][c] * (1 - p[i][c]) / 2
            assert grad[i][c] == pytest.approx(base_grad[i][c] + reg)


def test_apl_base_is_the_default_and_known_labels_match_it():
    """With no unknown label every mode is the base loss."""
    apl = MODELS.build(dict(type='AsymmetricPolynomialLoss', gamma_pos=0,
                            gamma_neg=2, clip=0.05, alpha1=0.0, alpha2=1.75,
                            beta1=1.0))
    x = torch.tensor(LOGITS)
    y = torch.tensor(POS, dtype=torch.float32)
    want = apl(x, y, avg_factor=2)
    for mode in ('ignore', 'negative', 'selective', 'large_loss'):
        got = PartialLabelLoss(mode)(x, y, avg_factor=2)
        torch.testing.assert_close(got, want)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="mode='guess'"):
        PartialLabelLoss('guess')
    with pytest.raises(ValueError, match='expected_positives'):
        PartialLabelLoss('epr')
    with pytest.raises(ValueError, match='read only by'):
        PartialLabelLoss('ignore', expected_positives=2)
    with pytest.raises(ValueError, match="'wan'"):
        PartialLabelLoss('negative', negative_weight='weak')
    with pytest.raises(ValueError, match='correction'):
        PartialLabelLoss('large_loss', correction='drop')
    with pytest.raises(ValueError, match="prior='counts' must be one of"):
        PartialLabelLoss('selective', prior='counts')
    with pytest.raises(ValueError, match=r'numbers in \[0, 1\]'):
        PartialLabelLoss('selective', prior=[0.5, 1.5])
    with pytest.raises(ValueError, match='prior is read only by'):
        PartialLabelLoss('negative', prior='images')


def _head(loss):
    torch.manual_seed(0)
    return MODELS.build(dict(type='QueryDecoderHead', num_classes=4,
                             in_channels=8, num_layers=1, num_heads=2,
                             feedforward_channels=16, dropout=0.0,
                             loss=loss))


def _samples():
    s0 = DataSample().set_gt_label([0])
    s0.set_field([2, 3], 'gt_label_unknown')
    s0.set_field([1], 'gt_label_difficult')  # ignored: never counts
    s1 = DataSample().set_gt_label([1])
    s1.set_field([2], 'gt_label_negative')  # 0 and 3 unknown
    return [s0, s1]


def test_head_passes_unknowns_and_drops_ignored():
    feats = (torch.randn(2, 8, 2, 2), )
    head = _head(dict(type='PartialLabelLoss', mode='negative',
                      negative_weight=0.5, base=BCE))
    logits = head(feats)
    loss = head.loss(feats, _samples())['loss']
    x = logits.detach().double().tolist()
    want = (_lpos(x[0][0]) + 0.5 * (_lneg(x[0][2]) + _lneg(x[0][3])) +
            _lpos(x[1][1]) + _lneg(x[1][2]) + 0.5 *
            (_lneg(x[1][0]) + _lneg(x[1][3]))) / 2
    assert loss.item() == pytest.approx(want, rel=1e-5)


def test_a_plain_loss_ignores_unknowns():
    feats = (torch.randn(2, 8, 2, 2), )
    head = _head(BCE)
    x = head(feats).detach().double().tolist()
    loss = head.loss(feats, _samples())['loss']
    want = (_lpos(x[0][0]) + _lpos(x[1][1]) + _lneg(x[1][2])) / 2
    assert loss.item() == pytest.approx(want, rel=1e-5)


def test_grouped_queries_and_bf16_autocast():
    """With grouped label queries and under bf16 autocast the loss is the
    same rule: finite, float32, unknowns as the mode says."""
    torch.manual_seed(0)
    head = MODELS.build(dict(type='QueryDecoderHead', num_classes=4,
                             in_channels=8, num_layers=1, num_heads=2,
                             feedforward_channels=16, dropout=0.0,
                             num_queries=2,
                             loss=dict(type='PartialLabelLoss',
                                       mode='selective', base=BCE)))
    feats = (torch.randn(2, 8, 2, 2), )
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = head.loss(feats, _samples())['loss']
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert head.fc_weight.grad is not None
    # the ignored label (class 1 of the first image) is no known label
    assert head.loss_module.positive_count.tolist() == [1, 1, 0, 0]
    assert head.loss_module.known_count.tolist() == [1, 1, 1, 0]


def _dist_worker(rank, init_file, out):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=2)
    loss = PartialLabelLoss('selective', base=BCE)
    labels = ([[1, 0, -1], [0, -1, 1]] if rank == 0 else
              [[-1, 1, 0], [1, 1, -1]])
    x = torch.zeros(2, 3)
    loss(x, torch.tensor(labels, dtype=torch.float32), avg_factor=2)
    torch.save(dict(pos=loss.positive_count, known=loss.known_count),
               f'{out}.{rank}')
    dist.destroy_process_group()


@pytest.mark.slow
def test_selective_priors_are_summed_over_processes(tmp_path):
    """Two processes with different batches hold the same priors: the
    counts of both batches."""
    import torch.multiprocessing as mp
    out = str(tmp_path / 'counts')
    mp.spawn(_dist_worker, args=(str(tmp_path / 'init'), out), nprocs=2)
    for rank in range(2):
        got = torch.load(f'{out}.{rank}')
        # positives: class 0: 1 + 1, class 1: 0 + 2, class 2: 1 + 0
        assert got['pos'].tolist() == [2, 2, 1]
        assert got['known'].tolist() == [3, 3, 2]


# -- 'role': the label table ------------------------------------------------
def _role(**kw):
    loss = PartialLabelLoss('role', base=BCE, expected_positives=1.5,
                            epr_weight=2.0, num_images=5, estimator_lr=0.1,
                            **kw)
    loss.size_counts(4)
    return loss


THETA = {3: [0.3, -0.2, 0.1, -0.4], 1: [0.0, 0.2, -0.3, 0.25]}


def test_role_loss_gradient_and_estimator_step():
    """The model's loss and gradient, and the estimates' Adam step, against
    a hand computation: unknowns add 0.5 BCE(x, y_hat) + the EPR terms;
    the table moves by lr * g / (|g| + eps) on its first step."""
    loss = _role()
    before = loss.role_logits.clone()
    for row, theta in THETA.items():
        loss.role_logits[row] = torch.tensor(theta)
        before[row] = torch.tensor(theta)
    x = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(LABELS, dtype=torch.float64)
    value = loss(x, y, avg_factor=2, sample_indices=torch.tensor([3, 1]))
    (grad, ) = torch.autograd.grad(value, x)
    base, base_grad = _expected(POS, KNOWN_NEG)
    rows = [3, 1]
    est = [[_sig(t) for t in THETA[r]] for r in rows]
    p = [[_sig(v) for v in row] for row in LOGITS]
    want = base
    k_hat = (sum(p[0]) + sum(p[1])) / 2
    for i in range(2):
        for c in range(4):
            if UNKNOWN[i][c]:
                q = est[i][c]
                want += 0.5 * -(q * math.log(p[i][c]) +
                                (1 - q) * math.log(1 - p[i][c])) / 2
    want += 0.5 * 2.0 * (k_hat - 1.5)**2 / 4
    assert value.item() == pytest.approx(want, rel=1e-6)
    for i in range(2):
        for c in range(4):
            g = base_grad[i][c] + 0.5 * 2.0 * 2 * (k_hat - 1.5) / 4 * \
                p[i][c] * (1 - p[i][c]) / 2
            if UNKNOWN[i][c]:
                g += 0.5 * (p[i][c] - est[i][c]) / 2
            assert grad[i, c].item() == pytest.approx(g, rel=1e-5,
                                                      abs=1e-9)
    # the estimator: known entries enter its EPR as their label
    q_eff = [[est[i][c] if UNKNOWN[i][c] else float(POS[i][c])
              for c in range(4)] for i in range(2)]
    kq = (sum(q_eff[0]) + sum(q_eff[1])) / 2
    after = loss.role_logits
    for i, r in enumerate(rows):
        for c in range(4):
            if not UNKNOWN[i][c]:
                assert after[r, c].item() == before[r, c].item()
                continue
            q = est[i][c]
            g = 0.5 * (q - p[i][c]) / 2 + 0.5 * 2.0 * 2 * (kq - 1.5) / 4 * \
                q * (1 - q) / 2
            step = 0.1 * g / (abs(g) + 1e-8)
            assert after[r, c].item() == pytest.approx(
                THETA[r][c] - step, abs=1e-6)
            assert loss.role_m[r, c].item() == pytest.approx(0.1 * g,
                                                             rel=1e-4)
            assert loss.role_v[r, c].item() == pytest.approx(
                0.001 * g * g, rel=1e-4)
    others = [0, 2, 4]
    assert torch.equal(after[others], before[others])
    assert loss.role_steps.tolist() == [0, 1, 0, 1, 0]
    # evaluation mode: the same loss value, the table untouched
    loss.eval()
    kept = loss.role_logits.clone()
    loss(x.detach(), y, avg_factor=2, sample_indices=torch.tensor([3, 1]))
    assert torch.equal(loss.role_logits, kept)


def test_role_table_is_in_the_state_dict_and_checked():
    loss = _role()
    x = torch.tensor(LOGITS)
    loss(x, torch.tensor(LABELS, dtype=torch.float32), avg_factor=2,
         sample_indices=torch.tensor([0, 4]))
    fresh = PartialLabelLoss('role', base=BCE, expected_positives=1.5,
                             num_images=5)
    fresh.load_state_dict(loss.state_dict())
    for name in ('role_logits', 'role_m', 'role_v', 'role_steps'):
        assert torch.equal(getattr(fresh, name), getattr(loss, name))
    # the same seed starts every process from the same table
    assert torch.equal(_role().role_logits, _role().role_logits)
    assert not torch.equal(_role().role_logits,
                           _role(estimator_seed=1).role_logits)
    est = _role().label_estimates()
    assert ((est > 0.4) & (est < 0.6)).all()
    with pytest.raises(ValueError, match='num_images=5 rows'):
        loss(x, torch.tensor(LABELS, dtype=torch.float32), avg_factor=2,
             sample_indices=torch.tensor([0, 5]))
    with pytest.raises(ValueError, match='sample_idx'):
        loss(x, torch.tensor(LABELS, dtype=torch.float32), avg_factor=2)


def test_role_settings_are_named():
    with pytest.raises(ValueError, match='num_images'):
        PartialLabelLoss('role', expected_positives=2)
    with pytest.raises(ValueError, match='expected_positives'):
        PartialLabelLoss('role', num_images=10)
    with pytest.raises(ValueError, match='read only by'):
        PartialLabelLoss('ignore', num_images=10)
    big = PartialLabelLoss('role', expected_positives=2,
                           num_images=9_000_000)
    with pytest.raises(ValueError, match='WAN'):
        big.size_counts(9605)


def test_head_passes_sample_indices_to_role():
    feats = (torch.randn(2, 8, 2, 2), )
    head = _head(dict(type='PartialLabelLoss', mode='role', base=BCE,
                      expected_positives=1.0, num_images=10))
    assert head.loss_module.role_logits.shape == (10, 4)
    samples = _samples()
    for s, idx in zip(samples, (7, 2)):
        s.set_metainfo(dict(sample_idx=idx))
    before = head.loss_module.role_logits.clone()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = head.loss(feats, samples)['loss']
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    changed = (head.loss_module.role_logits != before).any(1)
    # rows 7 and 2, at their unknowns only (image 0: classes 2 and 3;
    # image 1: 0 and 3; the ignored label 1 of image 0 is not estimated)
    assert changed.nonzero().flatten().tolist() == [2, 7]
    diff = head.loss_module.role_logits != before
    assert diff[7].tolist() == [False, False, True, True]
    assert diff[2].tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match='sample_idx'):
        head.loss(feats, _samples())


def _role_dist_worker(rank, init_file, out):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=2)
    loss = _role()
    x = torch.tensor(LOGITS) * (1 + rank)
    loss(x, torch.tensor(LABELS, dtype=torch.float32), avg_factor=2,
         sample_indices=torch.tensor([0, 1] if rank == 0 else [2, 3]))
    torch.save(dict(loss.state_dict()), f'{out}.{rank}')
    dist.destroy_process_group()


@pytest.mark.slow
def test_role_tables_agree_over_processes(tmp_path):
    """Two processes with different images: both tables hold both
    processes' updates (rows 0-1 from rank 0, 2-3 from rank 1), equal to
    what each process alone computes for its rows."""
    import torch.multiprocessing as mp
    out = str(tmp_path / 'tables')
    mp.spawn(_role_dist_worker, args=(str(tmp_path / 'init'), out), nprocs=2)
    got = [torch.load(f'{out}.{r}') for r in range(2)]
    for name in ('role_logits', 'role_m', 'role_v', 'role_steps'):
        assert torch.equal(got[0][name], got[1][name]), name
    for rank, rows in ((0, [0, 1]), (1, [2, 3])):
        alone = _role()
        alone(torch.tensor(LOGITS) * (1 + rank),
              torch.tensor(LABELS, dtype=torch.float32), avg_factor=2,
              sample_indices=torch.tensor(rows))
        torch.testing.assert_close(got[0]['role_logits'][rows],
                                   alone.role_logits[rows])
    assert got[0]['role_steps'].tolist() == [1, 1, 1, 1, 0]
