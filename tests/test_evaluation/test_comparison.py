"""compare_predictions: the seven metrics of two models, A - B with a
paired bootstrap interval, per-class AP differences (checked against
scikit-learn), and the refusal of files that are not comparable."""
import csv
import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from conftest import load_tool
from mlic.evaluation import (NotComparableError, compare, load_predictions,
                             save_predictions)
from mlic.evaluation.comparison import paired_bootstrap

CLASSES = ['cat', 'dog', 'bird', 'fish']


def _pair(n=200, seed=0):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, 4)) < 0.3).astype(np.int8)
    targets[:, 3] = 0  # a class without positives: no AP
    noise = rng.random((n, 4))
    # B: scores loosely tied to the truth; A: the same, more tightly
    b = np.clip(0.35 * targets + 0.65 * noise, 0, 1)
    a = np.clip(0.6 * targets + 0.4 * noise, 0, 1)
    return a.astype(np.float32), b.astype(np.float32), targets


def _data(scores, targets, classes=CLASSES, ids=None):
    n = len(scores)
    return dict(scores=scores, targets=targets, classes=list(classes),
                img_ids=ids or list(range(n)),
                img_paths=[f'{i}.jpg' for i in range(n)])


def test_differences_match_sklearn_and_interval_excludes_zero():
    a, b, t = _pair()
    res = compare(_data(a, t), _data(b, t), ('A', 'B'), bootstrap=200)
    ap = {}
    for name, s in (('A', a), ('B', b)):
        ap[name] = [100 * average_precision_score(t[:, c], s[:, c])
                    for c in range(3)]
        assert res['metrics'][name]['mAP'] == pytest.approx(
            np.mean(ap[name]), abs=1e-6)
    assert res['difference']['mAP'] == pytest.approx(
        np.mean(ap['A']) - np.mean(ap['B']), abs=1e-6)
    low, high = res['interval']['mAP']
    assert 0 < low < res['difference']['mAP'] < high  # A is better
    rows = res['per_class']
    assert [r['cls'] for r in rows[:3]] == sorted(
        CLASSES[:3], key=lambda c: -(ap['A'][CLASSES.index(c)]
                                     - ap['B'][CLASSES.index(c)]))
    for r in rows[:3]:
        c = CLASSES.index(r['cls'])
        assert r['diff'] == pytest.approx(ap['A'][c] - ap['B'][c], abs=1e-6)
        assert r['positives'] == int(t[:, c].sum())
    assert rows[3]['cls'] == 'fish' and np.isnan(rows[3]['diff'])


def test_bootstrap_is_paired_and_seeded():
    a, b, t = _pair(n=120)
    same = paired_bootstrap(a, a.copy(), t, 0.5, 50, 0)
    assert all(v == (0.0, 0.0) for v in same.values())  # paired: A - A = 0
    one = paired_bootstrap(a, b, t, 0.5, 50, 3)
    assert one == paired_bootstrap(a, b, t, 0.5, 50, 3)
    assert one != paired_bootstrap(a, b, t, 0.5, 50, 4)
    # by hand: the first resample of seed 3, scored apart
    idx = np.random.default_rng(3).integers(0, 120, 120)
    from mlic.evaluation import multilabel_metrics
    first = multilabel_metrics(a[idx], t[idx])['mAP'] - \
        multilabel_metrics(b[idx], t[idx])['mAP']
    many = paired_bootstrap(a, b, t, 0.5, 1, 3)['mAP']
    assert many == (pytest.approx(first), pytest.approx(first))


@pytest.mark.parametrize('change,message', [
    (dict(classes=['dog', 'cat', 'bird', 'fish']),
     "another order \\(column 0: 'cat' vs 'dog'\\)"),
    (dict(classes=['cat', 'dog', 'bird', 'eel']),
     "only in A: \\['fish'\\], only in B: \\['eel'\\]"),
    (dict(n=150), 'A has 200 images and B 150'),
    (dict(ids=list(range(1, 201))), 'image 0 is 0 in A and 1 in B'),
    (dict(flip=True), "image 0, class 'cat'"),
])
def test_not_comparable_is_refused(change, message):
    a, b, t = _pair()
    n = change.get('n', 200)
    tb = t[:n].copy()
    if change.get('flip'):
        tb[0, 0] = 1 - tb[0, 0]
    other = _data(b[:n], tb, change.get('classes', CLASSES),
                  change.get('ids'))
    with pytest.raises(NotComparableError, match=message):
        compare(_data(a, t), other, bootstrap=0)


def test_tool_writes_table_csv_figure_json(tmp_path, capsys):
    a, b, t = _pair()
    pa = save_predictions(str(tmp_path / 'a.npz'), a, t, CLASSES)
    pb = save_predictions(str(tmp_path / 'b.npz'), b, t, CLASSES)
    out = tmp_path / 'cmp'
    res = load_tool('analysis_tools/compare_predictions').main(
        [pa, pb, '--names', 'new', 'base', '--out-dir', str(out),
         '--bootstrap', '50'])
    text = capsys.readouterr().out
    assert '| mAP |' in text and 'new - base' in text
    with open(out / 'ap_difference.csv') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['class', 'AP new', 'AP base', 'difference',
                       'positives']
    assert rows[-1][0] == 'fish' and rows[-1][3] == '+nan'
    data = json.load(open(out / 'comparison.json'))  # valid JSON: no NaN
    assert data['difference']['mAP'] == pytest.approx(
        res['difference']['mAP'])
    assert data['per_class'][-1]['diff'] is None
    assert (out / 'ap_difference.png').stat().st_size > 5000
    # the same file twice: names made distinct; A - A = 0
    load_tool('analysis_tools/compare_predictions').main(
        [pa, pa, '--bootstrap', '0'])
    assert '+0.00' in capsys.readouterr().out


def test_tool_refuses_with_the_reason(tmp_path, capsys):
    a, b, t = _pair()
    pa = save_predictions(str(tmp_path / 'a.npz'), a, t, CLASSES)
    pb = save_predictions(str(tmp_path / 'b.npz'), b[:10], t[:10], CLASSES)
    with pytest.raises(SystemExit) as exit_:
        load_tool('analysis_tools/compare_predictions').main([pa, pb])
    assert exit_.value.code == 2
    # the default names are the files'
    assert 'error: a has 200 images and b 10' in capsys.readouterr().err
    assert load_predictions(pa)['scores'].shape == (200, 4)
