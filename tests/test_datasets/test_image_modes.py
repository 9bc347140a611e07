"""Images as they come: every mode Pillow may return is read by
onnx_infer.py (Pillow) exactly as mlic's loader (OpenCV) reads it, and an
image that declares too many pixels is refused before it is decoded."""
import importlib.util
import io
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, bomb_png
from mlic.datasets.transforms import (BadImageError, LoadImageChecked,
                                      decode_image, image_size)


def _onnx_infer():
    spec = importlib.util.spec_from_file_location(
        'onnx_infer', osp.join(REPO, 'tools', 'deployment', 'onnx_infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pil_bytes(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _cases():
    rng = np.random.default_rng(0)
    u8 = lambda *s: rng.integers(0, 256, s, dtype=np.uint8)  # noqa: E731
    grey16 = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    palette = Image.fromarray(u8(9, 11, 3)).convert('P')
    cmyk = Image.fromarray(u8(9, 11, 4), 'CMYK')
    return {
        # mode Pillow returns: the file's bytes
        'I;16 (16-bit grey PNG)': cv2.imencode('.png', grey16)[1].tobytes(),
        'I;16 (16-bit grey TIFF)': _pil_bytes(Image.fromarray(grey16),
                                              'TIFF'),
        'RGB (16-bit RGB PNG)': cv2.imencode('.png', rgb16)[1].tobytes(),
        'LA': _pil_bytes(Image.fromarray(u8(9, 11, 2), 'LA'), 'PNG'),
        'P with transparency': _pil_bytes(palette, 'PNG', transparency=3),
        'CMYK JPEG': _pil_bytes(cmyk, 'JPEG', quality=100),
        'CMYK TIFF': _pil_bytes(cmyk, 'TIFF'),
        'RGBA': _pil_bytes(Image.fromarray(u8(9, 11, 4), 'RGBA'), 'PNG'),
        '1 (bilevel)': _pil_bytes(Image.fromarray(u8(9, 11) > 127), 'PNG'),
        'L': _pil_bytes(Image.fromarray(u8(9, 11)), 'PNG'),
    }


@pytest.mark.parametrize('mode', list(_cases()))
def test_onnx_infer_reads_every_mode_as_the_opencv_path(tmp_path, mode):
    data = _cases()[mode]
    path = tmp_path / 'img'
    path.write_bytes(data)
    ours = decode_image(data, str(path), to_rgb=True)
    theirs = _onnx_infer().load_rgb(str(path))
    assert theirs.dtype == np.uint8 and theirs.shape == ours.shape
    assert np.array_equal(theirs, ours), \
        np.abs(theirs.astype(int) - ours).max()
    if mode.startswith('I;16'):  # not the white image of convert('RGB')
        assert ours.mean() < 200


@pytest.mark.parametrize('mode, array', [
    ('I', np.arange(99, dtype=np.int32).reshape(9, 11) * 1000),
    ('F', np.linspace(0, 1, 99, dtype=np.float32).reshape(9, 11)),
])
def test_32_bit_samples_are_refused_by_both_paths(tmp_path, mode, array):
    data = _pil_bytes(Image.fromarray(array, mode), 'TIFF')
    path = tmp_path / 'img.tif'
    path.write_bytes(data)
    with pytest.raises(BadImageError, match='not a readable image'):
        decode_image(data, str(path))
    with pytest.raises(OSError, match='samples: not read'):
        _onnx_infer().load_rgb(str(path))


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    data = bomb_png()
    assert len(data) < 100_000
    assert image_size(data) == (20000, 20000)
    with pytest.raises(BadImageError, match=r'bomb.png declares 20000 x 20000 '
                       r'pixels \(400 megapixels\), over the limit of '
                       r'268435456 .*MLIC_MAX_IMAGE_PIXELS=400000000'):
        decode_image(data, 'bomb.png')
    path = tmp_path / 'bomb.png'
    path.write_bytes(data)
    with pytest.raises(OSError, match='not decoded'):
        _onnx_infer().load_rgb(str(path))


def test_sizes_from_headers_of_every_common_format():
    img = np.zeros((7, 13, 3), np.uint8)
    for ext in ('.jpg', '.png', '.bmp', '.tiff', '.webp'):
        data = cv2.imencode(ext, img)[1].tobytes()
        assert image_size(data) == (13, 7), ext
    progressive = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_PROGRESSIVE,
                                             1])[1].tobytes()
    assert image_size(progressive) == (13, 7)
    assert image_size(b'not an image') is None


def test_the_limit_is_a_setting(tmp_path, monkeypatch):
    data = cv2.imencode('.png', np.zeros((10, 20, 3), np.uint8))[1].tobytes()
    path = tmp_path / 'a.png'
    path.write_bytes(data)
    assert decode_image(data, 'a.png', max_pixels=200).shape == (10, 20, 3)
    with pytest.raises(BadImageError, match='10 pixels'):
        decode_image(data, 'a.png', max_pixels=199)
    monkeypatch.setenv('MLIC_MAX_IMAGE_PIXELS', '199')
    with pytest.raises(BadImageError, match='over the limit of 199'):
        decode_image(data, 'a.png')
    skip = LoadImageChecked(on_bad_image='skip')
    assert skip(dict(img_path=str(path))) is None and skip.num_skipped == 1
    with pytest.raises(BadImageError):
        LoadImageChecked()(dict(img_path=str(path)))
    assert LoadImageChecked(max_pixels=200)(
        dict(img_path=str(path)))['img'].shape == (10, 20, 3)
    monkeypatch.setenv('MLIC_MAX_IMAGE_PIXELS', 'lots')
    with pytest.raises(ValueError, match="MLIC_MAX_IMAGE_PIXELS='lots'"):
        decode_image(data, 'a.png')
    with pytest.raises(ValueError, match='max_pixels=0'):
        LoadImageChecked(max_pixels=0)
