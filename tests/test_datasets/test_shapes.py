import json
import os.path as osp

import numpy as np
import pytest

from mlic.datasets import SHAPE_CLASSES, ShapesMultiLabel, render_image
from mlic.datasets.shapes_generator import ensure_shapes


def test_render_is_deterministic_and_seeded():
    a, objs_a = render_image(0, 'train', 5, 64)
    b, objs_b = render_image(0, 'train', 5, 64)
    np.testing.assert_array_equal(a, b)
    assert objs_a == objs_b
    c, _ = render_image(1, 'train', 5, 64)
    d, _ = render_image(0, 'val', 5, 64)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_object_counts_and_classes():
    assert len(SHAPE_CLASSES) >= 10
    counts, seen = [], set()
    for i in range(200):
        img, objs = render_image(0, 'train', i, 64)
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        counts.append(len(objs))
        for cls, (x, y, w, h), area in objs:
            seen.add(cls)
            assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64
            assert area > 0
    assert min(counts) == 1 and max(counts) == 4
    assert sum(c > 1 for c in counts) > 100  # mostly multi-label
    assert seen == set(range(len(SHAPE_CLASSES)))


def test_generated_coco_files_and_dataset(tmp_path):
    counts = dict(train=20, val=7)
    root = ensure_shapes(str(tmp_path), seed=3, image_size=48,
                         num_images=counts)
    assert ensure_shapes(str(tmp_path), seed=3, image_size=48,
                         num_images=counts) == root  # cached
    with open(osp.join(root, 'instances_val.json')) as f:
        coco = json.load(f)
    assert len(coco['images']) == 7
    assert [c['name'] for c in coco['categories']] == list(SHAPE_CLASSES)
    ds = ShapesMultiLabel(split='val', seed=3, image_size=48,
                          num_images=counts, cache_dir=str(tmp_path))
    assert len(ds) == 7
    assert ds.metainfo['classes'] == SHAPE_CLASSES
    for i in range(7):
        info = ds.get_data_info(i)
        expect = sorted({a['category_id'] - 1 for a in coco['annotations']
                         if a['image_id'] == info['img_id']})
        assert info['gt_label'] == expect
        # the label equals what the renderer drew for that image
        _, objs = render_image(3, 'val', info['img_id'] - 1, 48)
        assert sorted({o[0] for o in objs}) == expect
    with pytest.raises(ValueError, match="split='test'"):
        ShapesMultiLabel(split='test', num_images=counts,
                         cache_dir=str(tmp_path))


def test_colour_histograms_do_not_solve_it():
    """A linear model on colour histograms stays far below a CNN."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from mlic.evaluation import multilabel_metrics

    def features_and_targets(split, n):
        feats, targets = [], []
        for i in range(n):
            img, objs = render_image(0, split, i, 64)
            hist = [np.histogram(img[..., ch], bins=16, range=(0, 256))[0]
                    for ch in range(3)]
            feats.append(np.concatenate(hist) / img[..., 0].size)
            t = np.zeros(len(SHAPE_CLASSES))
            t[[o[0] for o in objs]] = 1
            targets.append(t)
        return np.array(feats), np.array(targets)

    x, y = features_and_targets('train', 600)
    xv, yv = features_and_targets('val', 300)
    clf = OneVsRestClassifier(LogisticRegression(max_iter=500)).fit(x, y)
    res = multilabel_metrics(clf.predict_proba(xv), yv)
    prevalence = 100 * yv.mean()
    assert res['mAP'] < prevalence + 12, (res['mAP'], prevalence)


def test_cache_errors_name_the_cache_and_the_variable(tmp_path, monkeypatch):
    a_file = tmp_path / 'cache_is_a_file'
    a_file.write_text('x')
    monkeypatch.setenv('MLIC_DATA_CACHE', str(a_file))
    with pytest.raises(OSError, match='MLIC_DATA_CACHE=.*cache_is_a_file.*'
                       'Point MLIC_DATA_CACHE at a writable folder'):
        ensure_shapes(num_images=dict(train=2, val=2))


def test_killed_generations_are_cleaned_and_the_cache_is_shared(tmp_path):
    """A generation killed half-way leaves .shapes_tmp_<pid>_*; the next
    one removes it (its process is gone) and keeps a live one's. The
    dataset folder is readable by others (mkdtemp made it 0700)."""
    import os
    import stat
    dead = tmp_path / '.shapes_tmp_4194305_abc'   # no such pid
    live = tmp_path / f'.shapes_tmp_{os.getpid()}_def'
    for d in (dead, live):
        (d / 'train').mkdir(parents=True)
    old = os.umask(0o022)
    try:
        root = ensure_shapes(str(tmp_path), num_images=dict(train=2, val=2),
                             image_size=32)
    finally:
        os.umask(old)
    assert not dead.exists() and live.exists()
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o755
