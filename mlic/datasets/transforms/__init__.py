from .cutout import Cutout
from .loading import (MAX_IMAGE_PIXELS, BadImageError, LoadImageChecked,
                      decode_image, image_size, max_image_pixels)

__all__ = [
    'BadImageError', 'Cutout', 'LoadImageChecked', 'MAX_IMAGE_PIXELS',
    'decode_image', 'image_size', 'max_image_pixels'
]
