from .coco import CocoMultiLabel
from .csv_dataset import CsvMultiLabel, read_class_names
from .errors import DatasetError
from .shapes import (SHAPE_CLASSES, ShapesMultiLabel, ensure_shapes,
                     render_image)
from .voc import VOCMultiLabel
from .transforms import BadImageError, Cutout, LoadImageChecked

__all__ = [
    'CocoMultiLabel', 'CsvMultiLabel', 'DatasetError', 'read_class_names',
    'ShapesMultiLabel', 'SHAPE_CLASSES', 'ensure_shapes', 'render_image',
    'BadImageError', 'Cutout', 'LoadImageChecked', 'VOCMultiLabel'
]
