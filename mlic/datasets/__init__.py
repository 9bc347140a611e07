from .coco import CocoMultiLabel, DatasetError
from .shapes import (SHAPE_CLASSES, ShapesMultiLabel, ensure_shapes,
                     render_image)
from .voc import VOCMultiLabel
from .transforms import BadImageError, Cutout, LoadImageChecked

__all__ = [
    'CocoMultiLabel', 'DatasetError', 'ShapesMultiLabel', 'SHAPE_CLASSES',
    'ensure_shapes', 'render_image', 'BadImageError', 'Cutout', 'LoadImageChecked',
    'VOCMultiLabel'
]
