"""Config values no run can use are named by their key before any work."""
import pytest

from conftest import TINY_CFG
from mlic.utils import load_config
from mlic.utils.config_check import ConfigKeyError, check_sizes_and_schedule


@pytest.mark.parametrize('opts,message', [
    ({'train_dataloader.dataset.pipeline.1.scale': (0, 32)},
     r'train_dataloader.dataset.pipeline\[1\] \(Resize\): scale=\(0, 32\)'),
    ({'val_dataloader.dataset.pipeline.1.scale': (32, -1)},
     r'val_dataloader.dataset.pipeline\[1\].*positive pixels'),
    ({'train_cfg.max_epochs': 0}, r'train_cfg.max_epochs=0: train for at '
     'least 1'),
])
def test_sizes_and_epochs_that_cannot_run(opts, message):
    cfg = load_config(TINY_CFG, opts)
    with pytest.raises(ConfigKeyError, match=message):
        check_sizes_and_schedule(cfg)


def test_the_shipped_tiny_config_passes():
    check_sizes_and_schedule(load_config(TINY_CFG))
