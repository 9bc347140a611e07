"""Config values no run can use are named by their key before any work."""
import pytest

from conftest import TINY_CFG
from mlic.utils import load_config
from mlic.utils.config_check import (ConfigKeyError, check_known_keys,
                                     check_sizes_and_schedule,
                                     check_value_types)


@pytest.mark.parametrize('opts,message', [
    ({'train_dataloader.dataset.pipeline.1.scale': (0, 32)},
     r'train_dataloader.dataset.pipeline\[1\] \(Resize\): scale=\(0, 32\)'),
    ({'val_dataloader.dataset.pipeline.1.scale': (32, -1)},
     r'val_dataloader.dataset.pipeline\[1\].*positive pixels'),
    ({'train_cfg.max_epochs': 0}, r'train_cfg.max_epochs=0: train for at '
     'least 1'),
    # numbers given as text (or of the wrong kind)
    ({'optim_wrapper.optimizer.lr': '1e-3'},
     r"optim_wrapper.optimizer.lr='1e-3' is a str; expected a number "
     r'\(e.g. optim_wrapper.optimizer.lr=1e-3, without quotes\)'),
    ({'optim_wrapper.optimizer.lr': 'abc'}, r"lr='abc' is a str"),
    ({'train_dataloader.batch_size': 8.5},
     r'train_dataloader.batch_size=8.5 is a float; expected a whole number'),
    ({'val_dataloader.num_workers': True}, r'num_workers=True is a bool'),
])
def test_values_that_cannot_run_are_named(opts, message):
    cfg = load_config(TINY_CFG, opts)
    with pytest.raises(ConfigKeyError, match=message):
        check_sizes_and_schedule(cfg)
        check_value_types(cfg)


def test_the_shipped_configs_pass():
    import glob
    import os.path as osp
    from conftest import REPO
    for path in [TINY_CFG] + sorted(glob.glob(osp.join(REPO, 'configs', '*',
                                                       '*.py'))):
        cfg = load_config(path)
        check_sizes_and_schedule(cfg)
        check_value_types(cfg)
        check_known_keys(cfg)


@pytest.mark.parametrize('key, closest', [
    ('train_cfg.max_epoch', 'train_cfg.max_epochs'),
    ('train_dataloader.batch_szie', 'train_dataloader.batch_size'),
    ('optim_wrapper.optimizer.learning_rate', None),  # far from any: kept
    # a component's argument the config does not set: left to the builder
    ('default_hooks.checkpoint.save_last', None),
])
def test_a_misspelt_cfg_option_names_the_closest_key(key, closest):
    from mlic.utils.config_check import check_cfg_options
    cfg = load_config(TINY_CFG)
    if closest is None:
        check_cfg_options(cfg, {key: 1})
        return
    with pytest.raises(ConfigKeyError, match=rf'--cfg-options {key}: .* has '
                       rf'no key .*; did you mean {closest}\?'):
        check_cfg_options(cfg, {key: 2})
    with pytest.raises(ConfigKeyError, match='did you mean'):
        load_config(TINY_CFG, {key: 2})


def test_a_misspelt_key_in_a_config_file_is_named(tmp_path):
    from mlic.utils.config_check import check_known_keys
    cfg = tmp_path / 'mine.py'
    cfg.write_text(f'_base_ = [{TINY_CFG!r}]\n'
                   'train_dataloader = dict(batch_szie=4)\n')
    with pytest.raises(ConfigKeyError, match=r'train_dataloader.batch_szie: '
                       r'unknown key .*mine.py.*did you mean '
                       r'train_dataloader.batch_size\?'):
        check_known_keys(load_config(str(cfg)))
    check_known_keys(load_config(TINY_CFG))


def test_a_cfg_option_without_a_value_is_named(capsys):
    from conftest import load_tool
    with pytest.raises(SystemExit):
        load_tool('train').parse_args([TINY_CFG, '--cfg-options',
                                       'train_cfg.max_epochs'])
    assert "--cfg-options 'train_cfg.max_epochs': each item is KEY=VALUE" \
        in capsys.readouterr().err
