import numpy as np
import pytest

from mlic.datasets import Cutout
from mlic.registry import TRANSFORMS


def _image(h, w, c=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w, c) if c else (h, w)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize('size', [(64, 64), (37, 120), (200, 9), (1, 1)])
@pytest.mark.parametrize('fill', ['zero', 'constant', 'color', 'noise'])
def test_box_inside_area_in_range_rest_untouched(size, fill):
    h, w = size
    np.random.seed(1)
    area_range = (0.05, 0.3)
    t = Cutout(area_range=area_range, aspect_range=(0.25, 4.0), fill=fill,
               fill_value=(7, 8, 9))
    for trial in range(60):
        img = _image(h, w, seed=trial)
        out = t(dict(img=img.copy()))
        x1, y1, x2, y2 = out['cutout_bbox']
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        bw, bh = x2 - x1, y2 - y1
        # Integer sides: the area may differ from a*H*W by rounding of
        # each side (at most half a row and half a column) - and a box is
        # at least one pixel.
        slack = (bw + bh) / 2 + 1
        assert bw * bh >= min(area_range[0] * h * w - slack, 1) - 1e-9
        assert bw * bh <= area_range[1] * h * w + slack
        mask = np.zeros((h, w), bool)
        mask[y1:y2, x1:x2] = True
        np.testing.assert_array_equal(out['img'][~mask], img[~mask])
        patch = out['img'][mask]
        if fill == 'zero':
            assert (patch == 0).all()
        elif fill == 'constant':
            assert (patch == np.array([7, 8, 9], np.uint8)).all()
        elif fill == 'color':
            assert (patch == patch[0]).all()
        assert out['img'].dtype == np.uint8 and out['img'].shape == img.shape


def test_area_distribution_covers_the_range():
    np.random.seed(0)
    t = Cutout(area_range=(0.1, 0.4), aspect_range=(1.0, 1.0))
    fracs = []
    for _ in range(400):
        x1, y1, x2, y2 = t.sample_box(200, 200)
        fracs.append((x2 - x1) * (y2 - y1) / 200 ** 2)
    fracs = np.array(fracs)
    assert fracs.min() >= 0.1 - 0.01 and fracs.max() <= 0.4 + 0.01
    assert fracs.min() < 0.13 and fracs.max() > 0.37
    # uniform in area: the mean is the midpoint
    assert abs(fracs.mean() - 0.25) < 0.02


def test_noise_is_random_and_gray_images_work():
    np.random.seed(3)
    t = Cutout(area_range=(0.5, 0.5), aspect_range=(1, 1), fill='noise')
    out = t(dict(img=np.zeros((50, 50), np.uint8)))
    x1, y1, x2, y2 = out['cutout_bbox']
    patch = out['img'][y1:y2, x1:x2]
    assert patch.std() > 50  # uniform on [0, 255]: std ~ 74
    assert out['img'].shape == (50, 50)


def test_prob_and_registry():
    np.random.seed(0)
    t = TRANSFORMS.build(dict(type='Cutout', prob=0.0))
    img = _image(16, 16)
    out = t(dict(img=img.copy()))
    assert out['cutout_bbox'] is None
    np.testing.assert_array_equal(out['img'], img)
    t = Cutout(prob=0.5)
    applied = sum(t(dict(img=img.copy()))['cutout_bbox'] is not None
                  for _ in range(400))
    assert 150 < applied < 250


@pytest.mark.parametrize('kwargs, word', [
    (dict(area_range=(0.0, 0.5)), 'area_range'),
    (dict(area_range=(0.5, 0.2)), 'area_range'),
    (dict(area_range=0.3), 'area_range'),
    (dict(aspect_range=(0, 1)), 'aspect_range'),
    (dict(fill='gaussian'), 'gaussian'),
    (dict(prob=1.5), 'prob'),
])
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Cutout(**kwargs)


def test_constant_with_wrong_channel_count():
    t = Cutout(fill='constant', fill_value=(1, 2))
    with pytest.raises(ValueError, match='fill_value'):
        t(dict(img=_image(8, 8)))
