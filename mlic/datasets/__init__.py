from .coco import CocoMultiLabel
from .csv_dataset import CsvMultiLabel, read_class_names
from .errors import DatasetError
from .hidden_labels import HideLabels
from .openimages import OpenImagesMultiLabel
from .shapes import ShapesMultiLabel
from .shapes_generator import SHAPE_CLASSES, ensure_shapes, render_image
from .voc import VOCMultiLabel
from .transforms import BadImageError, Cutout, LoadImageChecked

__all__ = [
    'CocoMultiLabel', 'CsvMultiLabel', 'DatasetError', 'HideLabels',
    'OpenImagesMultiLabel', 'read_class_names',
    'ShapesMultiLabel', 'SHAPE_CLASSES', 'ensure_shapes', 'render_image',
    'BadImageError', 'Cutout', 'LoadImageChecked', 'VOCMultiLabel'
]
