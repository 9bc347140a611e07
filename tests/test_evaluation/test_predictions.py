"""Prediction files: safe to read (nothing in them runs), validated."""
import os
import pickle
import zipfile

import numpy as np
import pytest

from conftest import load_tool
from mlic.evaluation import (PredictionsFileError, load_predictions,
                             save_predictions)

CLASSES = [f'c{i}' for i in range(12)]


def _data(n=6, c=12, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.random((n, c)).astype(np.float32)
    targets = (rng.random((n, c)) < 0.3).astype(np.int8)
    targets[0, 1] = -1
    return scores, targets


class Evil:
    """A pickle that asks for os.system when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def _evil_pkl(tmp_path):
    marker = tmp_path / 'owned.txt'
    path = tmp_path / 'preds.pkl'
    scores, targets = _data()
    with open(path, 'wb') as f:
        pickle.dump(dict(scores=scores, targets=targets, classes=CLASSES,
                         img_ids=Evil(marker)), f)
    return path, marker


def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path):
    path, marker = _evil_pkl(tmp_path)
    with pytest.raises(PredictionsFileError) as err:
        load_predictions(str(path))
    assert 'posix.system' in str(err.value) and str(path) in str(err.value)
    assert 'nothing in it ran' in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize('tool,args', [
    ('analysis_tools/plot_results', ['--out-dir', 'plots']),
    ('analysis_tools/calibrate_thresholds', ['--out', 'thr.json']),
])
def test_the_tools_refuse_it_too(tmp_path, tool, args):
    path, marker = _evil_pkl(tmp_path)
    args = [str(tmp_path / a) if '.' in a or a == 'plots' else a
            for a in args]
    with pytest.raises(PredictionsFileError, match='allow-list'):
        load_tool(tool).main([str(path)] + args)
    assert not marker.exists()


def test_label_stats_refuses_it_before_anything_runs(tmp_path):
    path, marker = _evil_pkl(tmp_path)
    with pytest.raises(PredictionsFileError, match='allow-list'):
        load_tool('analysis_tools/label_stats').main(
            ['tests/data/tiny_shapes.py', '--out-dir', str(tmp_path / 's'),
             '--preds', str(path)])
    assert not marker.exists()


def test_npz_round_trip_and_an_older_pkl(tmp_path):
    scores, targets = _data()
    ids = [np.int64(5), 'b', 7, 8, 9, 10]
    path = save_predictions(str(tmp_path / 'p.npz'), scores, targets,
                            CLASSES, img_ids=ids,
                            img_paths=[f'{i}.jpg' for i in range(6)])
    data = load_predictions(path)
    np.testing.assert_array_equal(data['scores'], scores)
    np.testing.assert_array_equal(data['targets'], targets)
    assert data['classes'] == CLASSES and data['img_ids'] == [5, 'b', 7, 8,
                                                              9, 10]
    assert data['img_paths'][2] == '2.jpg'
    # what an earlier mlic wrote with pickle: read through the allow-list
    old = tmp_path / 'old.pkl'
    with open(old, 'wb') as f:
        pickle.dump(dict(scores=scores, targets=targets, classes=CLASSES,
                         img_ids=[np.int64(i) for i in range(6)],
                         img_paths=[None] * 6), f)
    data = load_predictions(str(old))
    np.testing.assert_array_equal(data['scores'], scores)
    assert data['img_ids'] == list(range(6))


def test_a_npz_with_objects_or_truncated_is_refused(tmp_path):
    scores, targets = _data()
    obj = tmp_path / 'obj.npz'
    np.savez(obj, scores=scores, targets=targets,
             meta=np.array([{'x': 1}], dtype=object))
    with pytest.raises(PredictionsFileError, match='pickled objects'):
        load_predictions(str(obj))
    good = save_predictions(str(tmp_path / 'good.npz'), scores, targets,
                            CLASSES)
    cut = tmp_path / 'cut.npz'
    cut.write_bytes(open(good, 'rb').read()[:300])
    with pytest.raises(PredictionsFileError, match='cut.npz is truncated'):
        load_predictions(str(cut))
    with pytest.raises(PredictionsFileError, match=r'name the file \*\.npz'):
        save_predictions(str(tmp_path / 'p.pkl'), scores, targets, CLASSES)


@pytest.mark.parametrize('change,message', [
    (lambda d: d.update(classes=CLASSES[:10]),
     '10 class names for 12 score columns'),
    (lambda d: d['scores'].__setitem__((2, 3), np.nan),
     "NaN or inf .*image 2, class 'c3'"),
    (lambda d: d.update(targets=d['targets'][:5]), 'differ in shape'),
    (lambda d: d['targets'].__setitem__((1, 1), 2), '1, 0 or -1'),
    (lambda d: d.update(img_paths=['a'] * 4), '4 img_paths for 6 rows'),
    # logits saved by another tool: calibrate_thresholds wrote 1.98
    (lambda d: d.update(scores=d['scores'] * 6 - 3),
     r'scores lie in \[-2.9.*not in \[0, 1\] .*look like logits'),
    (lambda d: d['scores'].__setitem__((4, 7), 1.5),
     r"image 4, class 'c7': 1.5\).*look like logits"),
])
def test_what_is_read_is_checked(tmp_path, change, message):
    """A hand-edited file: the zip of 10 names with 12 columns, NaN scores
    (mAP 21.14 in plot_results before) ... are named, not used."""
    scores, targets = _data()
    data = dict(scores=scores, targets=targets, classes=list(CLASSES),
                img_ids=list(range(6)), img_paths=[None] * 6)
    change(data)
    path = tmp_path / 'edited.pkl'
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    with pytest.raises(PredictionsFileError, match=message):
        load_predictions(str(path))


def test_the_npz_is_a_plain_zip_of_arrays(tmp_path):
    """No member of a written file is a pickle."""
    scores, targets = _data()
    path = save_predictions(str(tmp_path / 'p.npz'), scores, targets,
                            CLASSES)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ['meta.npy', 'scores.npy',
                                        'targets.npy']
    with np.load(path, allow_pickle=False) as npz:
        assert npz['meta'].dtype.kind == 'U'
