"""What MultiLabelInferencer accepts: paths, folders, PIL images, uint8
arrays in a named channel order; everything else is refused with the fix,
and non-finite scores stop it as they stop tools/test.py."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from mlic.apis import ImageInputError, MultiLabelInferencer, expand_inputs
from mlic.evaluation import NonFiniteScoresError

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')


@pytest.fixture(scope='module')
def infer():
    torch.manual_seed(0)
    return MultiLabelInferencer(TINY_Q2L, device='cpu', fold_bn=False)


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    path = str(tmp_path / 'photo.png')
    cv2.imwrite(path, bgr)
    return path, bgr


def _scores(results):
    return np.array([list(r['scores'].values()) for r in results])


def test_arrays_pil_and_paths_agree(infer, photo):
    path, bgr = photo
    by_path = _scores(infer([path]))
    np.testing.assert_allclose(_scores(infer([bgr])), by_path, atol=1e-6)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    pil = Image.fromarray(rgb)
    np.testing.assert_allclose(_scores(infer([pil])), by_path, atol=1e-6)
    infer.channel_order = 'rgb'
    try:
        np.testing.assert_allclose(_scores(infer([rgb])), by_path,
                                   atol=1e-6)
        # the same RGB array read as BGR is another image
        infer.channel_order = 'bgr'
        assert np.abs(_scores(infer([rgb])) - by_path).max() > 1e-4
    finally:
        infer.channel_order = 'bgr'


@pytest.mark.parametrize('array,message', [
    (np.full((40, 56, 3), 0.5, np.float32),
     r"float32: the model takes uint8 .*\(img \* 255\)"),
    (np.full((40, 56, 3), 30000, np.uint16), r'img >> 8'),
    (np.full((40, 56, 3), np.nan, np.float64), 'NaN or inf values'),
    (np.zeros((40, 56, 4), np.uint8), r'img\[\.\.\., :3\]'),
])
def test_arrays_that_would_score_wrongly_are_refused(infer, array, message):
    """A float image in [0, 1] scored as uint8 pixels gave scores off by up
    to 0.33 without a word; an all-NaN array gave NaN scores."""
    with pytest.raises(ImageInputError, match=message):
        infer([array])


def test_grey_arrays_and_bad_channel_orders(infer):
    grey = np.full((32, 32), 128, np.uint8)
    assert expand_inputs([grey])[0].shape == (32, 32, 3)
    with pytest.raises(ImageInputError, match="channel_order='xyz'"):
        expand_inputs([grey], channel_order='xyz')
    with pytest.raises(ImageInputError, match='input #0 is a int'):
        expand_inputs([3])


def test_nan_scores_raise_as_test_py_does(infer, photo):
    path, _ = photo
    weight = infer.model.head.fc_bias
    saved = weight.detach().clone()
    with torch.no_grad():
        weight[2] = float('nan')
    try:
        with pytest.raises(NonFiniteScoresError, match='photo.png'):
            infer([path])
    finally:
        with torch.no_grad():
            weight.copy_(saved)


def test_unreadable_files_raise_or_are_skipped(infer, photo, tmp_path):
    path, _ = photo
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not an image')
    with pytest.raises(OSError, match='broken.jpg'):
        infer([path, str(bad)])
    results = infer([str(tmp_path)], on_error='skip')
    assert [osp.basename(r['img_path']) for r in results] == ['photo.png']
    assert infer.skipped[0][0] == str(bad)


def test_workers_give_the_same_results_in_order(infer, photo, tmp_path):
    path, bgr = photo
    for k in range(5):
        cv2.imwrite(str(tmp_path / f'x{k}.png'), np.roll(bgr, 7 * k, 1))
    inputs = sorted(str(p) for p in tmp_path.glob('*.png'))
    here = infer(inputs, batch_size=2)
    there = infer(inputs, batch_size=2, workers=2)
    assert [r['img_path'] for r in there] == inputs
    np.testing.assert_allclose(_scores(there), _scores(here), atol=1e-6)


def test_given_classes_must_be_the_checkpoints(tmp_path):
    from mlic.utils import load_config
    cfg = load_config(TINY_Q2L)
    torch.manual_seed(0)
    model = MultiLabelInferencer(cfg, device='cpu').model
    ckpt = tmp_path / 'c.pth'
    names = [f'n{i}' for i in range(12)]
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=names))), ckpt)
    assert MultiLabelInferencer(cfg, str(ckpt), device='cpu').classes == \
        names
    swapped = names[1:2] + names[:1] + names[2:]
    with pytest.raises(ValueError, match='same 12 names in another order'):
        MultiLabelInferencer(cfg, str(ckpt), device='cpu', classes=swapped)
