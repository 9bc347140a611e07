from .cutout import Cutout
from .loading import BadImageError, LoadImageChecked, decode_image

__all__ = ['BadImageError', 'Cutout', 'LoadImageChecked', 'decode_image']
