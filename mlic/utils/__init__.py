from .config_check import (check_config_keys, check_file_exists,
                           check_num_classes, load_config, pipeline_resize)
from .setup_env import (prepare_run, register_all_modules, strip_training)

__all__ = [
    'register_all_modules', 'prepare_run', 'strip_training',
    'check_config_keys', 'check_file_exists', 'check_num_classes',
    'load_config', 'pipeline_resize'
]
