"""Image loading that refuses to train on a broken file."""
import io
import os

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger
from PIL import Image, ImageOps

from mlic.fileio import MAX_IMAGE_BYTES, read_regular_file
from mlic.registry import TRANSFORMS


class BadImageError(OSError):
    """An image file that is missing, truncated or not an image."""


def _complete_jpeg(data: bytes) -> bool:
    # A JPEG ends with the EOI marker; some writers pad after it.
    return data.rstrip(b'\x00\r\n ')[-2:] == b'\xff\xd9'


def decode_image(data: bytes, path: str, to_rgb: bool = False) -> np.ndarray:
    """Decode bytes to an HxWx3 uint8 array (BGR unless ``to_rgb``).

    OpenCV silently returns a partly grey image for a truncated JPEG; a JPEG
    without its end marker is therefore decoded strictly by Pillow, which
    raises on truncation. Raises :class:`BadImageError` naming ``path``.
    """
    if not data:
        raise BadImageError(f'image file is empty: {path}')
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
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 channel_order: str = 'bgr',
                 on_bad_image: str = 'error',
                 max_bytes: int = MAX_IMAGE_BYTES):
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
        self.num_skipped = 0

    def transform(self, results: dict):
        path = results['img_path']
        try:
            try:
                data = read_regular_file(path, self.max_bytes, 'image file')
            except OSError as e:
                raise BadImageError(str(e.strerror)) from None
            img = decode_image(data, path, self.channel_order == 'rgb')
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
