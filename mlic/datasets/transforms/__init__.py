from .loading import BadImageError, LoadImageChecked, decode_image

__all__ = ['BadImageError', 'LoadImageChecked', 'decode_image']
