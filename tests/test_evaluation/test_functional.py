import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from mlic.evaluation import average_precision, multilabel_metrics


def _random_case(n=300, c=9, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.3).astype(np.int8)
    scores = np.clip(targets * 0.3 + rng.random((n, c)) * 0.7, 0, 1)
    if ties:
        scores = np.round(scores, 1)
    return scores, targets


def _direct_threshold_metrics(scores, targets, pred):
    """docs/method.md section 5 written out with loops (ignored = -1 skipped)."""
    c = scores.shape[1]
    nc, np_, ng = np.zeros(c), np.zeros(c), np.zeros(c)
    for j in range(c):
        for i in range(scores.shape[0]):
            if targets[i, j] < 0:
                continue
            np_[j] += pred[i, j]
            ng[j] += targets[i, j] == 1
            nc[j] += pred[i, j] and targets[i, j] == 1
    cp = np.mean([nc[j] / np_[j] if np_[j] else 0.0 for j in range(c)])
    cr = np.mean([nc[j] / ng[j] if ng[j] else 0.0 for j in range(c)])
    op = nc.sum() / np_.sum() if np_.sum() else 0.0
    orr = nc.sum() / ng.sum()
    f1 = lambda p, r: 2 * p * r / (p + r) if p + r else 0.0  # noqa: E731
    return dict(CP=cp, CR=cr, CF1=f1(cp, cr), OP=op, OR=orr, OF1=f1(op, orr))


@pytest.mark.parametrize('ties', [False, True])
def test_ap_equals_sklearn(ties):
    scores, targets = _random_case(ties=ties)
    ours = average_precision(scores, targets)
    for j in range(scores.shape[1]):
        ref = average_precision_score(targets[:, j], scores[:, j])
        assert ours[j] == pytest.approx(ref, abs=1e-12)


def test_ap_is_mean_precision_at_positive_ranks():
    # ranking: + - + - - +  -> precisions 1, 2/3, 3/6
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    targets = np.array([1, 0, 1, 0, 0, 1])
    assert average_precision(scores, targets)[0] == pytest.approx(
        (1 + 2 / 3 + 0.5) / 3)


def test_ap_ties_do_not_depend_on_order():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    t1 = np.array([0, 1, 0, 0, 1])
    t2 = np.array([0, 0, 0, 1, 1])  # same multiset inside the tie group
    assert average_precision(scores, t1)[0] == average_precision(scores, t2)[0]
    # tie group of 3 ranked 2..4 with 1 positive: precision 1/4 at its end;
    # last positive at rank 5: precision 2/5.
    assert average_precision(scores, t1)[0] == pytest.approx((1 / 4 + 2 / 5) / 2)


def test_interpolated_ap_hand_value():
    # - + - - + +: precisions at positives 1/2, 2/5, 3/6; the envelope lifts
    # the middle one to 1/2.
    scores = np.linspace(1, 0.5, 6)
    targets = np.array([0, 1, 0, 0, 1, 1])
    assert average_precision(scores, targets)[0] == pytest.approx(
        (0.5 + 0.4 + 0.5) / 3)
    assert average_precision(scores, targets, interpolated=True)[0] == \
        pytest.approx(0.5)
    s, t = _random_case(seed=3)
    assert np.all(average_precision(s, t, interpolated=True) >=
                  average_precision(s, t) - 1e-12)


def test_threshold_metrics_match_direct_formulas():
    scores, targets = _random_case(seed=1)
    targets[5:9, 2] = -1  # ignored entries
    res = multilabel_metrics(scores, targets, thr=0.55, percent=False)
    ref = _direct_threshold_metrics(scores, targets, scores >= 0.55)
    for key, value in ref.items():
        assert res[key] == pytest.approx(value, abs=1e-12), key


def test_cf1_is_from_averaged_cp_cr_not_mean_f1():
    # class 0: 1 correct of 1 predicted, 1 of 4 gt -> P 1, R .25, F1 .4
    # class 1: 2 correct of 4 predicted, 2 of 2 gt -> P .5, R 1, F1 .667
    targets = np.array([[1, 1], [1, 1], [1, 0], [1, 0]])
    scores = np.array([[0.9, 0.9], [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])
    res = multilabel_metrics(scores, targets, percent=False)
    assert res['CP'] == pytest.approx(0.75)
    assert res['CR'] == pytest.approx(0.625)
    assert res['CF1'] == pytest.approx(2 * 0.75 * 0.625 / 1.375)
    assert res['CF1'] != pytest.approx((0.4 + 2 / 3) / 2)
    assert res['OP'] == pytest.approx(3 / 5)
    assert res['OR'] == pytest.approx(3 / 6)


def test_paper_cf1_of1_check():
    # docs/method.md section 5: CP 84.9, CR 74.7 -> CF1 79.5; OP 86.8, OR 76.9 -> 81.5
    # Build counts with exactly these precisions/recalls (one class).
    def f1_of(p, r):
        n_correct = int(round(p * r * 1e4))
        n_pred = n_correct / p
        n_gt = n_correct / r
        scores = np.zeros((int(round(max(n_pred, n_gt) + n_pred)), 1))
        targets = np.zeros_like(scores, dtype=np.int8)
        scores[:int(round(n_pred))] = 1
        targets[:n_correct] = 1
        targets[int(round(n_pred)):int(round(n_pred)) + int(
            round(n_gt)) - n_correct] = 1
        res = multilabel_metrics(scores, targets)
        return res
    res = f1_of(0.849, 0.747)
    assert res['CP'] == pytest.approx(84.9, abs=0.01)
    assert res['CR'] == pytest.approx(74.7, abs=0.01)
    assert round(res['CF1'], 1) == 79.5
    res = f1_of(0.868, 0.769)
    # 81.55 from the printed (rounded) OP/OR; the paper's 81.5 is within the
    # rounding of its inputs.
    assert res['OF1'] == pytest.approx(81.5, abs=0.06)


def test_class_without_predictions_gives_zero_not_nan():
    scores = np.array([[0.9, 0.1], [0.2, 0.2], [0.8, 0.3]])
    targets = np.array([[1, 1], [0, 0], [1, 1]])
    res = multilabel_metrics(scores, targets, percent=False)
    assert res['CP'] == pytest.approx(0.5)  # class 1 never predicted -> 0
    assert res['CR'] == pytest.approx(0.5)
    assert not any(np.isnan(v) for k, v in res.items() if k != 'AP_per_class')


def test_map_skips_classes_without_positives_and_ignored_entries():
    scores, targets = _random_case(seed=2, c=4)
    targets[:, 3] = 0
    res = multilabel_metrics(scores, targets)
    assert np.isnan(res['AP_per_class'][3])
    ap = [average_precision_score(targets[:, j], scores[:, j]) for j in range(3)]
    assert res['mAP'] == pytest.approx(100 * np.mean(ap))
    # ignored entries are as if absent for that class
    t2 = targets.copy()
    t2[:40, 0] = -1
    ours = average_precision(scores, t2)[0]
    ref = average_precision_score(targets[40:, 0], scores[40:, 0])
    assert ours == pytest.approx(ref)


def test_topk_predictions():
    scores = np.array([[0.9, 0.8, 0.1, 0.05], [0.2, 0.3, 0.4, 0.5]])
    targets = np.array([[1, 0, 0, 0], [0, 0, 1, 1]])
    res = multilabel_metrics(scores, targets, topk=2, percent=False)
    # top-2: image 0 -> {0, 1}, image 1 -> {3, 2}: 3 correct of 4 predicted
    assert res['OP_top2'] == pytest.approx(3 / 4)
    assert res['OR_top2'] == pytest.approx(1.0)
    assert res['CP_top2'] == pytest.approx((1 + 0 + 1 + 1) / 4)


def test_accepts_tensors_and_rejects_bad_targets():
    scores, targets = _random_case(n=50, c=3)
    a = multilabel_metrics(torch.from_numpy(scores).half(),
                           torch.from_numpy(targets))
    b = multilabel_metrics(scores.astype(np.float16), targets)
    assert a['mAP'] == pytest.approx(b['mAP'])
    with pytest.raises(ValueError, match='targets must be 1, 0 or -1'):
        multilabel_metrics(scores, targets * 2)
    with pytest.raises(ValueError, match='same shape'):
        multilabel_metrics(scores, targets[:, :2])


# -- at scale: blocks, float32 fast path, sparse / boolean targets -----------

def _oracle_ap(scores, targets, interpolated=False):
    """The previous implementation: one full argsort per class column."""
    s_rows = np.ascontiguousarray(scores.T)
    order = np.argsort(-s_rows, axis=1, kind='stable')
    s_sorted = np.take_along_axis(s_rows, order, axis=1)
    t_sorted = np.take_along_axis(np.ascontiguousarray(targets.T), order, 1)
    pos = t_sorted == 1
    tp = np.cumsum(pos, axis=1)
    seen = np.cumsum(t_sorted >= 0, axis=1)
    is_end = np.ones(pos.shape, dtype=bool)
    is_end[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]
    precision = tp / np.maximum(seen, 1).astype(np.float64)
    if interpolated:
        at_end = np.where(is_end, precision, 0.0)
        precision = np.maximum.accumulate(at_end[:, ::-1], axis=1)[:, ::-1]
    tp_at_end = np.where(is_end, tp, 0.0)
    prev = np.zeros_like(tp, dtype=np.float64)
    prev[:, 1:] = np.maximum.accumulate(tp_at_end, axis=1)[:, :-1]
    gain = np.where(is_end, tp - prev, 0.0)
    num_pos = pos.sum(axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        ap = (gain * precision).sum(axis=1) / num_pos
    ap[num_pos == 0] = np.nan
    return ap


def _large_case(n=2000, c=37, seed=5):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.05).astype(np.int8)
    targets[rng.random((n, c)) < 0.01] = -1
    targets[:, 4] = 0  # a class without positives
    scores = np.clip(0.4 * (targets == 1) + rng.random((n, c)) * 0.7, 0, 1)
    scores[:, :10] = np.round(scores[:, :10], 2)  # ties
    scores[:5, 11] = -0.0  # -0.0 and 0.0 are one score
    scores[5:10, 11] = 0.0
    return scores.astype(np.float32), targets


@pytest.mark.parametrize('interpolated', [False, True])
@pytest.mark.parametrize('block', [None, 37 * 5, 2000 * 3 + 1])
def test_float32_fast_path_equals_the_full_sort(monkeypatch, interpolated,
                                                block):
    from mlic.evaluation import functional
    if block is not None:  # blocks of 5 and 3 classes
        monkeypatch.setattr(functional, 'BLOCK_ENTRIES', block)
    scores, targets = _large_case()
    ours = average_precision(scores, targets, interpolated=interpolated)
    ref = _oracle_ap(scores, targets, interpolated)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours[~np.isnan(ref)], ref[~np.isnan(ref)],
                               rtol=0, atol=1e-12)
    # float64 (per-class ranks) gives the same on the same values
    ours64 = average_precision(scores.astype(np.float64), targets,
                               interpolated=interpolated)
    np.testing.assert_allclose(ours64, ours, rtol=0, atol=1e-12)


def test_sparse_boolean_and_dense_targets_agree(monkeypatch):
    from mlic.evaluation import SparseLabels, functional
    monkeypatch.setattr(functional, 'BLOCK_ENTRIES', 999)
    scores, targets = _large_case(n=500, c=23, seed=7)
    dense = multilabel_metrics(scores, targets, topk=3, thr=0.6)
    rows = [np.flatnonzero(t == 1) for t in targets]
    ign = [np.flatnonzero(t == -1) for t in targets]
    sparse = multilabel_metrics(scores, SparseLabels(rows, 23, ign),
                                topk=3, thr=0.6)
    for key, value in dense.items():
        np.testing.assert_allclose(sparse[key], value, rtol=0, atol=1e-12)
    plain = np.where(targets == -1, 0, targets)
    as_bool = multilabel_metrics(scores, plain.astype(bool), topk=3)
    as_uint8 = multilabel_metrics(scores, plain.astype(np.uint8), topk=3)
    as_int64 = multilabel_metrics(scores, plain.astype(np.int64), topk=3)
    for key in ('mAP', 'CF1', 'OF1', 'CF1_top3'):
        assert as_bool[key] == as_uint8[key] == as_int64[key]
    # a positive listed as ignored too stays positive
    both = SparseLabels([[1], [2]], 3, ignored=[[1, 0], []])
    np.testing.assert_array_equal(both.to_dense(), [[-1, 1, 0], [0, 0, 1]])


def test_topk_ties_go_to_the_lower_class_index(monkeypatch):
    from mlic.evaluation import functional
    monkeypatch.setattr(functional, 'BLOCK_ENTRIES', 50)
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((60, 9)), 1).astype(np.float32)
    targets = (rng.random((60, 9)) < 0.3).astype(np.int8)
    pred = functional._topk_rows(scores, 4)(0, 60)
    top = np.argsort(-scores, axis=1, kind='stable')[:, :4]
    ref = np.zeros_like(pred)
    np.put_along_axis(ref, top, True, axis=1)
    np.testing.assert_array_equal(pred, ref)
    res = multilabel_metrics(scores, targets, topk=4, percent=False)
    direct = _direct_threshold_metrics(scores, targets, ref)
    for key, value in direct.items():
        assert res[f'{key}_top4'] == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize('targets', [
    np.zeros((4, 3), np.int8),                          # all negative
    np.full((4, 3), -1, np.int8),                       # all ignored
    np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 0], [0, 0, -1]], np.int8),
    np.zeros((0, 3), np.int8),                          # no images
])
def test_nothing_to_score_is_nan_not_zero(targets):
    """mAP and the recall-based metrics are undefined without a positive:
    nan (reported as 0.0 before); precisions stay what they are (every
    prediction is wrong: 0)."""
    scores = np.full(targets.shape, 0.9, np.float32)
    res = multilabel_metrics(scores, targets)
    for key in ('mAP', 'CR', 'CF1', 'OR', 'OF1'):
        assert np.isnan(res[key]), key
    assert res['CP'] == 0 and res['OP'] == 0
    # one positive anywhere: everything is a number again
    if targets.size:
        targets = targets.copy()
        targets[0, 0] = 1
        res = multilabel_metrics(scores, targets)
        assert all(np.isfinite(res[k]) for k in
                   ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1'))


@pytest.mark.parametrize('block', [999, 1 << 22])
def test_known_rows_equal_their_ignored_lists(monkeypatch, block):
    """A row given by its known classes (Known) is the same targets as the
    row with every other class listed as ignored: every metric, the dense
    form and the per-class count of skipped labels, across blocks of
    images and of classes."""
    from mlic.evaluation import Known, SparseLabels, functional
    monkeypatch.setattr(functional, 'BLOCK_ENTRIES', block)
    scores, targets = _large_case(n=400, c=23, seed=3)
    rng = np.random.default_rng(0)
    mostly_unknown = rng.random(400) < 0.4
    for i in np.flatnonzero(mostly_unknown):  # 2-4 known negatives
        known = rng.choice(23, rng.integers(2, 5), replace=False)
        row = np.full(23, -1, np.int8)
        row[known] = 0
        row[targets[i] == 1] = 1
        targets[i] = row
    rows = [np.flatnonzero(t == 1) for t in targets]
    listed = [np.flatnonzero(t == -1) for t in targets]
    # a Known row may name a positive among its known classes too
    mixed = [Known(np.flatnonzero(t >= 0)) if m else lst
             for t, m, lst in zip(targets, mostly_unknown, listed)]
    as_known = SparseLabels(rows, 23, mixed)
    as_lists = SparseLabels(rows, 23, listed)
    assert as_known.ignored_rows.size < as_lists.ignored_rows.size / 3
    np.testing.assert_array_equal(as_known.to_dense(), targets)
    np.testing.assert_array_equal(as_known.ignored_per_class(),
                                  (targets == -1).sum(0))
    a = multilabel_metrics(scores, as_known, topk=3, thr=0.6)
    b = multilabel_metrics(scores, targets, topk=3, thr=0.6)
    for key, value in b.items():
        np.testing.assert_allclose(a[key], value, rtol=0, atol=1e-12)
    # windows of the ignored entries: the same set as the dense form's
    r, c = as_known.ignored_entries(100, 250, 5, 17)
    dense = np.zeros((400, 23), bool)
    dense[100:250, 5:17] = targets[100:250, 5:17] == -1
    got = np.zeros_like(dense)
    got[r, c] = True
    np.testing.assert_array_equal(got, dense)
    assert (np.diff(c) >= 0).all()  # a class window comes sorted by class
