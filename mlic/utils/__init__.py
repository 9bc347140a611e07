from .compat import (adapt_cfg_for_device, allow_mmengine_checkpoints,
                     finish_distributed, init_cpu_distributed, is_cpu_only,
                     mmengine_checkpoint_globals)
from .setup_env import prepare_run, register_all_modules

__all__ = [
    'register_all_modules', 'prepare_run', 'allow_mmengine_checkpoints',
    'mmengine_checkpoint_globals', 'init_cpu_distributed', 'finish_distributed', 'is_cpu_only',
    'adapt_cfg_for_device'
]
from .config_check import (check_config_keys, check_file_exists,  # noqa
                           load_config, normalise_dataloaders)

__all__ += [
    'check_config_keys', 'check_file_exists', 'load_config',
    'normalise_dataloaders'
]
