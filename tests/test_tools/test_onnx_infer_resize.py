"""tools/deployment/onnx_infer.py resizes as OpenCV does (what the test
pipeline runs), with numpy only."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest

from conftest import REPO


def _resize():
    spec = importlib.util.spec_from_file_location(
        'onnx_infer', osp.join(REPO, 'tools', 'deployment', 'onnx_infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.resize


@pytest.mark.parametrize('interpolation,code', [
    ('bilinear', cv2.INTER_LINEAR), ('area', cv2.INTER_AREA),
    ('nearest', cv2.INTER_NEAREST)])
@pytest.mark.parametrize('src,dst', [((128, 128), (64, 64)),
                                     ((300, 401), (64, 64)),
                                     ((480, 640), (448, 448)),
                                     ((40, 56), (64, 64)),
                                     ((100, 600), (448, 448))])
def test_resize_is_opencvs_within_one_level(interpolation, code, src, dst):
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, src + (3, ), np.uint8),
                           (5, 5), 2)
    ref = cv2.resize(img, dst[::-1], interpolation=code).astype(int)
    ours = _resize()(img, dst, interpolation)
    assert ours.dtype == np.uint8 and ours.shape == dst + (3, )
    assert np.abs(ours.astype(int) - ref).max() <= 1
