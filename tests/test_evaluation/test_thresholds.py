"""Threshold files: every value a number in [0, 1], named when not."""
import json

import pytest

from mlic.evaluation import ThresholdError, read_threshold_file


@pytest.mark.parametrize('value,shown', [('high', "'high'"), (1.5, '1.5'),
                                         (None, 'None'), (True, 'True')])
def test_a_bad_value_names_the_file_and_the_class(tmp_path, value, shown):
    path = tmp_path / 'thr.json'
    path.write_text(json.dumps({'thresholds': {'cat': 0.3, 'dog': value}}))
    with pytest.raises(ThresholdError, match=f"thr.json: the threshold of "
                       f"class 'dog' is {shown}"):
        read_threshold_file(str(path))


def test_both_layouts_and_a_byte_order_mark(tmp_path):
    path = tmp_path / 'thr.json'
    path.write_bytes(b'\xef\xbb\xbf' + json.dumps({'cat': 0.25}).encode())
    assert read_threshold_file(str(path)) == {'cat': 0.25}


def _case(seed=0, n=400):
    import numpy as np
    rng = np.random.default_rng(seed)
    # class 0 frequent, class 1 rare (3 positives), class 2 without any
    targets = np.zeros((n, 3), np.int8)
    targets[rng.random(n) < 0.3, 0] = 1
    targets[[5, 17, 40], 1] = 1
    scores = np.clip(rng.random((n, 3)) * 0.6 + 0.35 * targets, 0, 1)
    return scores, targets


def test_rare_classes_keep_the_default_and_prior_shrinks():
    import numpy as np

    from mlic.evaluation import calibrate_thresholds
    scores, targets = _case()
    free = calibrate_thresholds(scores, targets, 0.5)
    assert free['no_positives'] == [2] and free['too_few'] == []
    guarded = calibrate_thresholds(scores, targets, 0.5, min_positives=5)
    assert guarded['too_few'] == [1] and guarded['thresholds'][1] == 0.5
    assert guarded['thresholds'][0] == free['thresholds'][0]
    n0 = targets[:, 0].sum()
    shrunk = calibrate_thresholds(scores, targets, 0.5, prior=20)
    expected = (n0 * free['thresholds'][0] + 20 * 0.5) / (n0 + 20)
    assert shrunk['thresholds'][0] == pytest.approx(expected)
    # the rare class moves far more toward the default than the frequent one
    move = np.abs(free['thresholds'] - shrunk['thresholds'])[:2]
    gap = np.abs(free['thresholds'] - 0.5)[:2]
    assert move[1] / gap[1] > move[0] / gap[0]


def test_the_tool_reports_a_holdout(tmp_path):
    from conftest import load_tool
    from mlic.evaluation import save_predictions
    for name, seed in (('cal', 0), ('hold', 1)):
        scores, targets = _case(seed)
        save_predictions(str(tmp_path / f'{name}.npz'), scores, targets,
                         ['a', 'b', 'c'])
    out = tmp_path / 'thr.json'
    result = load_tool('analysis_tools/calibrate_thresholds').main(
        [str(tmp_path / 'cal.npz'), '--out', str(out), '--holdout',
         str(tmp_path / 'hold.npz')])
    saved = json.loads(out.read_text())
    assert saved['too_few_positives'] == ['b']
    assert saved['thresholds']['b'] == 0.5 and saved['min_positives'] == 5
    assert set(saved['metrics']) == {'thr_0.5', 'calibrated',
                                     'holdout_thr_0.5', 'holdout_calibrated'}
    assert result['holdout_images'] == 400
    assert saved['positives'] == {'a': int(_case(0)[1][:, 0].sum()),
                                  'b': 3, 'c': 0}


def test_how_much_data_calibration_needs(tmp_path):
    """calibration_data_needed.py: each row is calibrate_thresholds on the
    drawn images, scored on the held-out ones against 0.5 (recomputed here
    for one row); a draw of the whole pool is the same every time."""
    import numpy as np
    from conftest import load_tool
    from mlic.evaluation import (calibrate_thresholds, multilabel_metrics,
                                 save_predictions)
    rng = np.random.default_rng(3)
    targets = (rng.random((300, 4)) < 0.3).astype(np.int8)
    # informative scores, shifted so that 0.5 is not the best threshold
    scores = 0.1 + 0.3 * targets + 0.3 * rng.random((300, 4))
    save_predictions(str(tmp_path / 'p.npz'), scores, targets,
                     ['a', 'b', 'c', 'd'])
    tool = load_tool('benchmarks/calibration_data_needed')
    out = tmp_path / 't.json'
    result = tool.main([str(tmp_path / 'p.npz'), '--holdout-images', '100',
                        '--sizes', '20', '200', '--draws', '3', '--prior',
                        '4', '--json', str(out)])
    assert json.loads(out.read_text()) == result
    assert (result['holdout_images'], result['pool_images']) == (100, 200)
    rows = {(r['images'], r['min_positives'], r['prior']): r
            for r in result['rows']}
    assert len(rows) == 6
    # the whole pool: every draw equal, the mean is the worst
    full = rows[(200, 1, 0.0)]
    assert full['cf1_mean'] == pytest.approx(full['cf1_worst'], abs=1e-9)
    hold, pool = tool.split(300, 100)
    found = calibrate_thresholds(scores[pool], targets[pool], 0.5)
    gain = (multilabel_metrics(scores[hold], targets[hold],
                               thr=found['thresholds'])['CF1']
            - multilabel_metrics(scores[hold], targets[hold], thr=0.5)['CF1'])
    assert full['cf1_mean'] == pytest.approx(gain, abs=1e-9)
    assert gain > 10  # positives from 0.4: 0.5 misses a third of them
    with pytest.raises(ValueError, match='--sizes 250'):
        tool.measure(scores, targets, [250], holdout_images=100)


@pytest.mark.parametrize('n', [0, 5])
def test_nothing_to_calibrate_is_refused(n):
    import numpy as np
    from mlic.evaluation import NothingToScoreError, calibrate_thresholds
    with pytest.raises(NothingToScoreError, match='nothing to calibrate'):
        calibrate_thresholds(np.full((n, 3), 0.5), np.zeros((n, 3), np.int8))
