"""Cutout with a random rectangle size and a choice of fill (docs/method.md section 7).

mmpretrain's ``Cutout`` is a RandAugment operation with a fixed patch size
and a constant fill; the paper's recipe needs a rectangle whose size is
random and whose content can be random noise, applied as its own step
before RandAugment.
"""
import math
from numbers import Number
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mlic.registry import TRANSFORMS

FILLS = ('zero', 'constant', 'color', 'noise')


def _check_range(name, rng, low, high):
    try:
        lo, hi = (float(v) for v in rng)
    except (TypeError, ValueError):
        raise ValueError(f'Cutout: {name} must be a pair (min, max), '
                         f'got {rng!r}') from None
    if not (low < lo <= hi <= high):
        raise ValueError(f'Cutout: {name}={rng!r} must satisfy '
                         f'{low} < min <= max <= {high}')
    return lo, hi


@TRANSFORMS.register_module()
class Cutout(BaseTransform):
    """Replace one random rectangle of the image (docs/method.md section 7).

    The rectangle's area is a fraction ``a ~ U(area_range)`` of the image
    area and its aspect ratio (width / height) ``r`` is log-uniform in
    ``aspect_range``: ``h = sqrt(a H W / r)``, ``w = a H W / h``, each
    capped at the image side (the other side then grows so that the area
    stays ``a H W``). The rectangle lies entirely inside the image, at a
    uniformly random position. Pixels outside it are not touched.

    Works on ``HxWxC`` or ``HxW`` images of any size (uint8, or float with
    values in [0, 255] as elsewhere in mmcv pipelines).
    Writes ``results['cutout_bbox'] = (x1, y1, x2, y2)`` (exclusive end), or
    ``None`` when the transform was skipped by ``prob``.

    Args:
        area_range (tuple[float, float]): min and max area fraction, in
            (0, 1]. Default (0.0625, 0.25): square sides of 1/4 to 1/2 of the
            image, the size range of Query2Label's Cutout (side 1/2).
        aspect_range (tuple[float, float]): min and max width/height ratio.
        fill (str): ``'zero'``, ``'constant'`` (``fill_value``), ``'color'``
            (one random colour for the whole rectangle) or ``'noise'``
            (independent uniform random values per pixel and channel).
        fill_value (number | sequence): the constant for ``fill='constant'``
            (a scalar or one value per channel).
        prob (float): probability of applying the transform.
    """

    def __init__(self,
                 area_range: Tuple[float, float] = (0.0625, 0.25),
                 aspect_range: Tuple[float, float] = (0.5, 2.0),
                 fill: str = 'noise',
                 fill_value: Union[Number, Sequence[Number]] = 0,
                 prob: float = 1.0):
        self.area_range = _check_range('area_range', area_range, 0.0, 1.0)
        self.aspect_range = _check_range('aspect_range', aspect_range, 0.0,
                                         math.inf)
        if fill not in FILLS:
            raise ValueError(f'Cutout: fill={fill!r} is not one of {FILLS}')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'Cutout: prob={prob!r} must be in [0, 1]')
        self.fill = fill
        self.fill_value = fill_value
        self.prob = prob

    def sample_box(self, height: int, width: int,
                   rng=np.random) -> Tuple[int, int, int, int]:
        """(x1, y1, x2, y2) of a rectangle for an image of this size."""
        area = rng.uniform(*self.area_range) * height * width
        log_lo, log_hi = (math.log(v) for v in self.aspect_range)
        ratio = math.exp(rng.uniform(log_lo, log_hi))
        h = min(math.sqrt(area / ratio), height)
        w = min(area / h, width)
        h = min(area / w, height)
        h = max(1, min(height, int(round(h))))
        w = max(1, min(width, int(round(w))))
        y1 = int(rng.randint(0, height - h + 1))
        x1 = int(rng.randint(0, width - w + 1))
        return x1, y1, x1 + w, y1 + h

    def _fill(self, patch_shape, dtype, rng=np.random) -> np.ndarray:
        high = 255  # mmcv pipelines keep pixel values in [0, 255]
        channels = patch_shape[2:] or ()
        if self.fill == 'zero':
            return np.zeros(patch_shape, dtype)
        if self.fill == 'constant':
            value = np.asarray(self.fill_value, dtype=np.float64)
            if value.ndim and value.shape != tuple(channels):
                raise ValueError(
                    f'Cutout: fill_value={self.fill_value!r} has '
                    f'{value.size} values for an image with '
                    f'{channels[0] if channels else 1} channel(s)')
            return np.broadcast_to(value, patch_shape).astype(dtype)
        if self.fill == 'color':
            colour = rng.uniform(0, high, size=channels)
            return np.broadcast_to(colour, patch_shape).astype(dtype)
        noise = rng.uniform(0, high, size=patch_shape)
        return noise.astype(dtype)

    def transform(self, results: dict) -> Optional[dict]:
        img = results['img']
        if img.ndim not in (2, 3):
            raise ValueError(f'Cutout: expected an HxW or HxWxC image, got '
                             f'shape {img.shape} ({results.get("img_path")})')
        if np.random.rand() >= self.prob:
            results['cutout_bbox'] = None
            return results
        height, width = img.shape[:2]
        x1, y1, x2, y2 = self.sample_box(height, width)
        img = img.copy()
        patch_shape = (y2 - y1, x2 - x1) + img.shape[2:]
        img[y1:y2, x1:x2] = self._fill(patch_shape, img.dtype)
        results['img'] = img
        results['cutout_bbox'] = (x1, y1, x2, y2)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(area_range={self.area_range}, '
                f'aspect_range={self.aspect_range}, fill={self.fill!r}, '
                f'fill_value={self.fill_value!r}, prob={self.prob})')
