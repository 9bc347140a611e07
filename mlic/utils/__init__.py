from .config_check import (check_config_keys, check_file_exists,
                           check_num_classes, load_config, pipeline_resize)
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'check_config_keys', 'check_file_exists',
    'check_num_classes', 'load_config', 'pipeline_resize'
]
