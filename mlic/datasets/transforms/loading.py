"""Image loading that refuses to train on a broken file or a
decompression bomb."""
import io
import os
import struct
import warnings
from typing import Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger
from PIL import Image, ImageOps

from mlic.fileio import MAX_IMAGE_BYTES, read_regular_file
from mlic.registry import TRANSFORMS


class BadImageError(OSError):
    """An image file that is missing, truncated, not an image or too large
    to decode."""


# The most pixels an image may have to be decoded: 2**28 (16384 x 16384;
# a 200-megapixel phone photo is 16320 x 12240, 0.6 GB as BGR uint8).
# A 124 KB PNG can declare 32000 x 32000 pixels: decoding it would take
# 3 GB and half a minute. Set MLIC_MAX_IMAGE_PIXELS (or max_pixels=) to
# change it.
MAX_IMAGE_PIXELS = 1 << 28
PIXELS_ENV = 'MLIC_MAX_IMAGE_PIXELS'


def max_image_pixels(value: Optional[int] = None) -> int:
    """``value``, else ``$MLIC_MAX_IMAGE_PIXELS``, else
    :data:`MAX_IMAGE_PIXELS`; a positive whole number."""
    source = 'max_pixels'
    if value is None:
        value = os.environ.get(PIXELS_ENV)
        source = PIXELS_ENV
        if value in (None, ''):
            return MAX_IMAGE_PIXELS
    try:
        number = int(value)
        if isinstance(value, bool) or number < 1 or (
                isinstance(value, float) and value != number):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f'{source}={value!r}: the most pixels an image may '
                         'have, a whole number >= 1 (e.g. 268435456)') \
            from None
    return number


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from a JPEG's frame header (SOFn), or None."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, ) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack('>H', data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                return None
            height, width = struct.unpack('>HH', data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def image_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) read from the header of an encoded image, without
    decoding it; None when the format is not known here (the decoder then
    decides). PNG and JPEG are parsed directly; other formats through
    Pillow's lazy open (which reads the header only)."""
    if data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR':
        return struct.unpack('>II', data[16:24])
    if data[:2] == b'\xff\xd8':
        size = _jpeg_size(data)
        if size is not None:
            return size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError:
        return (1 << 31, 1)  # over Pillow's own hard limit
    except Exception:  # noqa: BLE001 - unknown to Pillow: OpenCV decides
        return None


def check_pixels(data: bytes, path: str,
                 max_pixels: Optional[int] = None) -> None:
    """Raise :class:`BadImageError` when the image declares more pixels
    than :func:`max_image_pixels` allows (read from its header)."""
    limit = max_image_pixels(max_pixels)
    size = image_size(data)
    if size is None or size[0] * size[1] <= limit:
        return
    w, h = size
    shape = f'{w} x {h} pixels ({w * h / 1e6:.0f} megapixels)' \
        if w < (1 << 31) else "more pixels than Pillow's own limit"
    raise BadImageError(
        f'image {path} declares {shape}, over the limit of {limit} '
        f'({limit / 1e6:.0f} megapixels); not decoded '
        '(a decompression bomb would take gigabytes). If the image is real, '
        f'raise the limit: {PIXELS_ENV}={w * h} (or max_pixels= of '
        'LoadImageChecked, --max-pixels of the tools)')


def _complete_jpeg(data: bytes) -> bool:
    # A JPEG ends with the EOI marker; some writers pad after it.
    return data.rstrip(b'\x00\r\n ')[-2:] == b'\xff\xd9'


def decode_image(data: bytes, path: str, to_rgb: bool = False,
                 max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode bytes to an HxWx3 uint8 array (BGR unless ``to_rgb``).

    An image whose header declares more than ``max_pixels`` pixels
    (:func:`max_image_pixels`) is refused before decoding. OpenCV silently
    returns a partly grey image for a truncated JPEG; a JPEG without its
    end marker is therefore decoded strictly by Pillow, which raises on
    truncation. Raises :class:`BadImageError` naming ``path``.
    """
    if not data:
        raise BadImageError(f'image file is empty: {path}')
    check_pixels(data, path, max_pixels)
    if data[:2] == b'\xff\xd8' and not _complete_jpeg(data):
        # Also a JPEG followed by other data (a motion photo's video):
        # Pillow stops at the end marker. The EXIF rotation is applied as
        # OpenCV applies it to every other JPEG.
        try:
            with Image.open(io.BytesIO(data)) as im:
                img = np.asarray(ImageOps.exif_transpose(im).convert('RGB'))
        except OSError as e:
            raise BadImageError(
                f'image file is truncated or corrupt: {path} ({e})') from None
        return img if to_rgb else img[..., ::-1].copy()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise BadImageError(f'not a readable image: {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if to_rgb else img


@TRANSFORMS.register_module()
class LoadImageChecked(BaseTransform):
    """Load ``results['img_path']`` into ``results['img']`` (HxWx3 uint8).

    Like mmcv's ``LoadImageFromFile`` (same output keys: ``img``,
    ``img_shape``, ``ori_shape``), but a missing, truncated or undecodable
    file never becomes silent garbage.

    Args:
        to_float32 (bool): return a float32 image.
        color_type (str): 'color' only (kept for config compatibility).
        channel_order (str): 'bgr' (mmcv's default) or 'rgb'.
        on_bad_image (str): ``'error'`` (default) raises an error naming the
            file; ``'skip'`` logs the file with a running count and returns
            None, which makes a training dataset draw another sample. Test
            datasets never skip (every test image must be scored).
        max_bytes (int): the largest file read (default 512 MiB); only
            regular files are read (a FIFO or a device named like an image
            is an error naming it, never a hang).
        max_pixels (int, optional): the most pixels an image may declare
            in its header to be decoded (default ``$MLIC_MAX_IMAGE_PIXELS``
            or 2**28): a decompression bomb is a bad image, never gigabytes
            of memory.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 channel_order: str = 'bgr',
                 on_bad_image: str = 'error',
                 max_bytes: int = MAX_IMAGE_BYTES,
                 max_pixels: Optional[int] = None):
        if on_bad_image not in ('error', 'skip'):
            raise ValueError(f"LoadImageChecked: on_bad_image={on_bad_image!r}"
                             " must be 'error' or 'skip'")
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f'LoadImageChecked: channel_order='
                             f"{channel_order!r} must be 'bgr' or 'rgb'")
        if color_type != 'color':
            raise ValueError(f'LoadImageChecked: color_type={color_type!r}; '
                             "only 'color' is supported")
        self.to_float32 = to_float32
        self.channel_order = channel_order
        self.on_bad_image = on_bad_image
        self.max_bytes = int(max_bytes)
        if max_pixels is not None:
            max_image_pixels(max_pixels)  # checked now, not per image
        self.max_pixels = max_pixels
        self.num_skipped = 0

    def transform(self, results: dict):
        path = results['img_path']
        try:
            try:
                data = read_regular_file(path, self.max_bytes, 'image file')
            except OSError as e:
                raise BadImageError(str(e.strerror)) from None
            img = decode_image(data, path, self.channel_order == 'rgb',
                               self.max_pixels)
        except BadImageError as e:
            if self.on_bad_image == 'error':
                raise
            self.num_skipped += 1
            MMLogger.get_current_instance().warning(
                f'Skipped a bad image ({self.num_skipped} so far in process '
                f'{os.getpid()}): {e}')
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"channel_order='{self.channel_order}', "
                f"on_bad_image='{self.on_bad_image}')")
