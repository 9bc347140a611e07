
import numpy as np
import pytest
import torch

from mlic.evaluation import MLICMetric, load_predictions, multilabel_metrics


def _samples(scores, labels, ignored=None):
    out = []
    for i, (s, lab) in enumerate(zip(scores, labels)):
        d = dict(pred_score=torch.tensor(s), gt_label=torch.tensor(lab),
                 img_id=100 + i, img_path=f'img{i}.jpg', sample_idx=i)
        if ignored and i in ignored:
            d['gt_label_difficult'] = ignored[i]
        out.append(d)
    return out


def test_metric_equals_function_and_dumps(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.random((20, 5)).astype(np.float32)
    labels = [sorted(set(rng.integers(0, 5, 2).tolist())) for _ in range(20)]
    targets = np.zeros((20, 5), np.int8)
    for i, lab in enumerate(labels):
        targets[i, lab] = 1
    ignored = {3: [4], 7: [0]}
    for i, cls in ignored.items():
        targets[i, cls] = np.where(targets[i, cls] == 1, 1, -1)

    out = tmp_path / 'preds.npz'
    metric = MLICMetric(topk=3, out_file=str(out), classwise=True)
    metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd', 'e'))
    samples = _samples(scores, labels, ignored)
    metric.process(None, samples[:11])
    metric.process(None, samples[11:])
    res = metric.evaluate(20)
    ref = multilabel_metrics(scores, targets, topk=3)
    for key in ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1', 'CF1_top3'):
        assert res[key] == pytest.approx(ref[key]), key
    assert list(res)[:7] == ['mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1']

    dumped = load_predictions(str(out))
    np.testing.assert_array_equal(dumped['scores'], scores)
    np.testing.assert_array_equal(dumped['targets'], targets)
    assert dumped['img_ids'] == list(range(100, 120))
    assert dumped['classes'] == ['a', 'b', 'c', 'd', 'e']


def test_metric_rejects_out_of_range_labels():
    metric = MLICMetric()
    with pytest.raises(ValueError, match='out of range'):
        metric.process(None, _samples(np.zeros((1, 3), np.float32), [[5]]))
    with pytest.raises(ValueError, match='thr'):
        MLICMetric(thr=1.5)


def test_unknown_labels_are_skipped_and_counted_per_class():
    """Unknowns (listed, or every unlisted class where known negatives are
    given) count like ignored labels: equal to the dense -1 computation;
    the per-class output says how many labels of each class were known."""
    from mlic.evaluation import split_per_class
    rng = np.random.default_rng(1)
    scores = rng.random((12, 4)).astype(np.float32)
    labels = [[i % 4] for i in range(12)]
    samples = _samples(scores, labels)
    targets = np.zeros((12, 4), np.int8)
    for i, lab in enumerate(labels):
        targets[i, lab] = 1
    samples[0]['gt_label_unknown'] = [1, 2]
    targets[0, [1, 2]] = -1
    samples[5]['gt_label_negative'] = [0]  # known: 1 (+) and 0 (-)
    targets[5, [2, 3]] = -1
    metric = MLICMetric(classwise=True)
    metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
    metric.process(None, samples)
    res = metric.evaluate(12)
    ref = multilabel_metrics(scores, targets)
    for key in ('mAP', 'CF1', 'OF1'):
        assert res[key] == pytest.approx(ref[key]), key
    per_class, _, known = split_per_class(res, known=True)
    assert known == dict(a=12, b=11, c=10, d=11)
    assert set(per_class) == {'a', 'b', 'c', 'd'}


def test_mostly_unknown_images_keep_their_known_labels_only():
    """An image with 2 known labels of 1,000 classes (OpenImages-style,
    unlisted = unknown) is stored by what is known, not by 998 unknowns,
    and scores exactly as the dense -1 computation."""
    from mlic.evaluation import Known
    rng = np.random.default_rng(2)
    c = 1000
    scores = rng.random((6, c)).astype(np.float32)
    labels = [[i, 10 + i] for i in range(6)]
    samples = _samples(scores, labels)
    targets = np.full((6, c), -1, np.int8)
    for i, lab in enumerate(labels):
        samples[i]['gt_label_negative'] = [500 + i, 600]
        targets[i, [500 + i, 600]] = 0
        targets[i, lab] = 1
    metric = MLICMetric(classwise=True)
    metric.dataset_meta = dict(classes=tuple(f'k{j}' for j in range(c)))
    metric.process(None, samples)
    stored = metric.results[0]['ignored']
    assert all(isinstance(k, Known) and k.indices.tolist() == [500 + i, 600]
               for i, k in enumerate(stored))
    res = metric.evaluate(6)
    ref = multilabel_metrics(scores, targets)
    for key in ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1'):
        assert res[key] == pytest.approx(ref[key], nan_ok=True), key
    assert res['known/k600'] == 6 and res['known/k0'] == 1 and \
        res['known/k999'] == 0
