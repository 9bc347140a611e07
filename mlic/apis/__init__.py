from .inferencer import (IMAGE_EXTENSIONS, MultiLabelInferencer,
                         expand_inputs, list_images)

__all__ = ['MultiLabelInferencer', 'IMAGE_EXTENSIONS', 'expand_inputs',
           'list_images']
