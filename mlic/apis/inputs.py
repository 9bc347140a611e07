"""What an inferencer accepts as images, made explicit and checked.

* a path of an image file (read by the test pipeline's loader: regular
  files only, size-capped, EXIF rotation applied);
* a folder: its image files (:data:`IMAGE_EXTENSIONS`), recursively, sorted;
* a ``PIL.Image.Image``: its EXIF rotation applied, converted to RGB;
* a numpy array, H x W x 3 (or H x W grey), **uint8**, in the channel
  order named by ``channel_order`` (``'bgr'``, the default, is what
  ``cv2.imread`` returns; ``'rgb'`` is what PIL, imageio and matplotlib
  give). Other dtypes are refused with the conversion to make: a float
  array in [0, 1] or a uint16 array read as uint8 pixels would give wrong
  scores without a word.

Every item becomes a path or a BGR uint8 array (the test pipeline's own
channel order) before the pipeline runs.
"""
import os
import os.path as osp
from typing import List

import numpy as np
from PIL import ImageOps

from mlic.utils.optional import require

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')
CHANNEL_ORDERS = ('bgr', 'rgb')


class ImageInputError(ValueError):
    """An input the inferencer cannot score as given; says what to do."""


def list_images(folder: str) -> List[str]:
    """Regular image files under ``folder`` (recursive, sorted; FIFOs,
    devices and broken links are left out)."""
    found = []

    def walk(path):
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path)
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS) and \
                    entry.is_file():
                found.append(entry.path)

    walk(folder)
    return found


def check_channel_order(channel_order: str) -> str:
    if channel_order not in CHANNEL_ORDERS:
        raise ImageInputError(f"channel_order={channel_order!r}: 'bgr' "
                              "(cv2.imread) or 'rgb' (PIL, imageio)")
    return channel_order


def _is_pil(item) -> bool:
    return type(item).__module__.startswith('PIL.') and \
        hasattr(item, 'convert')


def as_bgr_array(item, channel_order: str = 'bgr',
                 name: str = 'an image array') -> np.ndarray:
    """A PIL image or a numpy array as the H x W x 3 uint8 BGR array the
    test pipeline takes (module docstring); anything else is refused."""
    if _is_pil(item):
        rgb = np.asarray(ImageOps.exif_transpose(item).convert('RGB'))
        return np.ascontiguousarray(rgb[..., ::-1])
    check_channel_order(channel_order)
    array = np.asarray(item)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageInputError(
            f'{name} has shape {array.shape}: expected H x W x 3 (or H x W '
            'grey); drop an alpha channel with img[..., :3]')
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            nan = '' if np.isfinite(array).all() else \
                ' It holds NaN or inf values, which no conversion fixes.'
            hint = ('for floats in [0, 1]: (img * 255).round().astype('
                    "'uint8'); for floats in [0, 255]: img.round().astype("
                    "'uint8')")
        elif array.dtype == np.uint16:
            nan, hint = '', "for 16-bit images: (img >> 8).astype('uint8')"
        else:
            nan, hint = '', "convert it to uint8 pixels (0-255)"
        raise ImageInputError(
            f'{name} is {array.dtype}: the model takes uint8 pixels (0-255) '
            f'as images are read from files; {hint}.{nan}')
    if channel_order == 'rgb':
        array = array[..., ::-1]
    return np.ascontiguousarray(array)


def expand_inputs(inputs, channel_order: str = 'bgr') -> list:
    """A flat list of image paths and BGR uint8 arrays (folders expanded,
    PIL images and arrays converted and checked, module docstring). A path
    that does not exist stays in the list; it is reported when read."""
    if isinstance(inputs, (str, os.PathLike, np.ndarray)) or \
            _is_pil(inputs):
        inputs = [inputs]
    out = []
    for k, item in enumerate(inputs):
        if isinstance(item, np.ndarray) or _is_pil(item):
            out.append(as_bgr_array(item, channel_order,
                                    f'image #{k} (an array)'))
            continue
        if not isinstance(item, (str, os.PathLike)):
            raise ImageInputError(
                f'input #{k} is a {type(item).__name__}: give a path, a '
                'folder, a PIL image or a uint8 numpy array')
        item = os.fspath(item)
        if osp.isdir(item):
            images = list_images(item)
            if not images:
                kinds = ', '.join(IMAGE_EXTENSIONS)
                raise FileNotFoundError(f'no image files ({kinds}) under '
                                        f'{item}')
            out.extend(images)
        else:
            out.append(item)
    return out


LIST_COLUMNS = ('img_path', 'path', 'filename')


def read_image_list(path: str) -> List[str]:
    """The image paths a list file names, in its order: ``.txt`` (one path
    a line; blank lines and ``#`` comments skipped), ``.csv`` or
    ``.parquet`` (the column ``img_path``, ``path`` or ``filename``; a CSV
    without one of those headers: its first column). Relative paths are
    taken from the list's folder, so a list travels with its images."""
    ext = osp.splitext(path)[1].lower()
    if ext == '.parquet':
        pq = require('pyarrow.parquet', hint=f'{path}: reading a Parquet '
                     'list needs pyarrow: pip install -e ".[ray]"')
        names = pq.read_schema(path).names
        column = next((c for c in LIST_COLUMNS if c in names), None)
        if column is None:
            raise ImageInputError(
                f'{path}: no column {" / ".join(LIST_COLUMNS)} (it has '
                f'{names[:5]}); name the column of image paths img_path')
        paths = pq.read_table(path, columns=[column]).column(0).to_pylist()
    elif ext == '.csv':
        import csv
        with open(path, newline='', encoding='utf-8') as f:
            rows = list(csv.reader(f))
        header = [h.strip() for h in rows[0]] if rows else []
        column = next((c for c in LIST_COLUMNS if c in header), None)
        k = header.index(column) if column else 0
        paths = [r[k] for r in rows[1 if column else 0:] if r and r[k]]
    elif ext in ('.txt', '.lst', ''):
        with open(path, encoding='utf-8') as f:
            paths = [line.strip() for line in f
                     if line.strip() and not line.lstrip().startswith('#')]
    else:
        raise ImageInputError(f'{path}: an image list is .txt (a path a '
                              'line), .csv or .parquet')
    base = osp.dirname(osp.abspath(path))
    return [p if osp.isabs(p) or '://' in p else osp.join(base, p)
            for p in paths]


def missing_inputs(inputs) -> List[str]:
    """The named paths (not folders' contents) that do not exist."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return [os.fspath(p) for p in inputs
            if isinstance(p, (str, os.PathLike))
            and not osp.exists(os.fspath(p))]
