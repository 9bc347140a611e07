from .inferencer import MultiLabelInferencer
from .inputs import (IMAGE_EXTENSIONS, ImageInputError, expand_inputs,
                     list_images, missing_inputs, read_image_list)

__all__ = ['MultiLabelInferencer', 'IMAGE_EXTENSIONS', 'ImageInputError',
           'expand_inputs', 'list_images', 'missing_inputs',
           'read_image_list']
