"""The built-in dataset (12 classes of procedurally drawn shapes).

Generated on first use by :mod:`mlic.datasets.shapes_generator` into the
cache (``$MLIC_DATA_CACHE``, else ``~/.cache/mlic``) and read with
:class:`CocoMultiLabel`, the code that reads MS-COCO.
"""
import os.path as osp

from mlic.registry import DATASETS
from .coco import CocoMultiLabel
from .shapes_generator import DEFAULT_SPLITS, ensure_shapes


@DATASETS.register_module()
class ShapesMultiLabel(CocoMultiLabel):
    """The built-in multi-label shapes dataset (12 classes, or 216 with
    ``variant='combos'``).

    Generated on first use into the cache (see module docstring) and then
    read with :class:`CocoMultiLabel`.

    Args:
        split (str): 'train' or 'val'.
        seed (int): generator seed.
        image_size (int): side of the square images.
        num_images (dict, optional): images per split, e.g.
            ``dict(train=64, val=32)`` for a tiny copy (tests).
        cache_dir (str, optional): overrides ``$MLIC_DATA_CACHE``.
        variant (str): ``'shapes'`` (12 classes, default) or ``'combos'``
            (216 classes: shape x hue x size, for large label spaces).
        **kwargs: see :class:`CocoMultiLabel` (``pipeline``, ``test_mode``...).
    """

    def __init__(self, split='train', seed=0, image_size=128,
                 num_images=None, cache_dir=None, variant='shapes',
                 **kwargs):
        counts = dict(DEFAULT_SPLITS, **(num_images or {}))
        if split not in counts:
            raise ValueError(f'ShapesMultiLabel: split={split!r} must be one '
                             f'of {sorted(counts)}')
        root = ensure_shapes(cache_dir, seed, image_size, num_images,
                             variant=variant)
        super().__init__(
            ann_file=osp.join(root, f'instances_{split}.json'),
            data_prefix=osp.join(root, split),
            **kwargs)
