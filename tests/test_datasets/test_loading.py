import cv2
import numpy as np
import pytest

from mlic.datasets import BadImageError, LoadImageChecked


def _jpeg(path, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)
    return cv2.imread(str(path))


def test_loads_like_opencv(tmp_path):
    ref = _jpeg(tmp_path / 'a.jpg')
    out = LoadImageChecked()(dict(img_path=str(tmp_path / 'a.jpg')))
    np.testing.assert_array_equal(out['img'], ref)
    assert out['img_shape'] == (40, 48) and out['ori_shape'] == (40, 48)
    rgb = LoadImageChecked(channel_order='rgb')(
        dict(img_path=str(tmp_path / 'a.jpg')))
    np.testing.assert_array_equal(rgb['img'], ref[..., ::-1])
    cv2.imwrite(str(tmp_path / 'b.png'), ref)
    png = LoadImageChecked()(dict(img_path=str(tmp_path / 'b.png')))
    np.testing.assert_array_equal(png['img'], ref)


def test_truncated_jpeg_is_an_error(tmp_path):
    _jpeg(tmp_path / 'a.jpg')
    data = (tmp_path / 'a.jpg').read_bytes()
    (tmp_path / 'cut.jpg').write_bytes(data[:len(data) // 2])
    # OpenCV alone would hand back an image (silent corruption):
    assert cv2.imread(str(tmp_path / 'cut.jpg')) is not None
    with pytest.raises(BadImageError, match='cut.jpg'):
        LoadImageChecked()(dict(img_path=str(tmp_path / 'cut.jpg')))


def test_not_an_image_and_missing(tmp_path):
    (tmp_path / 'x.jpg').write_text('hello, not an image')
    with pytest.raises(BadImageError, match='not a readable image.*x.jpg'):
        LoadImageChecked()(dict(img_path=str(tmp_path / 'x.jpg')))
    with pytest.raises(BadImageError, match='cannot read.*gone.jpg'):
        LoadImageChecked()(dict(img_path=str(tmp_path / 'gone.jpg')))
    (tmp_path / 'e.jpg').write_bytes(b'')
    with pytest.raises(BadImageError, match='empty.*e.jpg'):
        LoadImageChecked()(dict(img_path=str(tmp_path / 'e.jpg')))


def test_skip_mode_counts(tmp_path):
    (tmp_path / 'x.jpg').write_text('junk')
    t = LoadImageChecked(on_bad_image='skip')
    assert t(dict(img_path=str(tmp_path / 'x.jpg'))) is None
    assert t(dict(img_path=str(tmp_path / 'x.jpg'))) is None
    assert t.num_skipped == 2
    with pytest.raises(ValueError, match='on_bad_image'):
        LoadImageChecked(on_bad_image='ignore')


def _exif_rotated_jpeg(path, trailer=b''):
    """A 40x64 JPEG whose EXIF says 'rotate 90 deg' (orientation 6)."""
    from PIL import Image
    img = np.zeros((40, 64, 3), np.uint8)
    img[:, :16] = (255, 0, 0)  # a red band on the left (RGB)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(path, exif=exif.tobytes(), quality=95)
    with open(path, 'ab') as f:
        f.write(trailer)


def test_a_jpeg_with_a_trailer_keeps_its_exif_rotation(tmp_path):
    """Motion photos carry a video after the JPEG's end marker; such a file
    is decoded by Pillow, which must rotate it as OpenCV rotates the plain
    JPEG (before: 40x64 for one, 64x40 for the other)."""
    _exif_rotated_jpeg(tmp_path / 'plain.jpg')
    _exif_rotated_jpeg(tmp_path / 'motion.jpg', trailer=b'\0\0ftypmp42' * 50)
    load = LoadImageChecked()
    plain = load(dict(img_path=str(tmp_path / 'plain.jpg')))['img']
    motion = load(dict(img_path=str(tmp_path / 'motion.jpg')))['img']
    assert plain.shape == motion.shape == (64, 40, 3)
    assert np.abs(plain.astype(int) - motion.astype(int)).max() <= 3


def test_only_regular_image_files_are_read(tmp_path):
    import os
    os.mkfifo(tmp_path / 'pipe.jpg')
    with pytest.raises(BadImageError, match='pipe.jpg: is a FIFO'):
        LoadImageChecked()(dict(img_path=str(tmp_path / 'pipe.jpg')))
    os.symlink('/dev/zero', tmp_path / 'zero.jpg')
    with pytest.raises(BadImageError, match='zero.jpg: is a device'):
        LoadImageChecked()(dict(img_path=str(tmp_path / 'zero.jpg')))
    _jpeg(tmp_path / 'a.jpg')
    with pytest.raises(BadImageError, match='over the limit of 100 bytes'):
        LoadImageChecked(max_bytes=100)(
            dict(img_path=str(tmp_path / 'a.jpg')))
