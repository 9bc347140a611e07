"""Every config normalises its inputs as its backbone weights expect."""
import glob
import os.path as osp

import pytest
import timm
from mmengine.config import Config

from conftest import REPO
from mlic.models.pretrained import (InputNormalisationError,
                                    check_input_normalisation,
                                    expected_normalisation)

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                           recursive=True))
CONFIGS = [c for c in CONFIGS if '_base_' not in c]
IMAGENET = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def _source(cfg):
    init = cfg.model.backbone.get('init_cfg', None)
    if isinstance(init, dict) and init.get('type') == 'Pretrained':
        return init['checkpoint']
    return None


def _independent(source):
    """What the weights expect, from timm / torchvision directly."""
    if source.startswith('timm/'):
        pc = timm.models.get_pretrained_cfg(source[len('timm/'):])
        return (tuple(255 * m for m in pc.mean), tuple(255 * s for s in pc.std))
    assert source.startswith('https://download.pytorch.org/models/'), source
    return IMAGENET


@pytest.mark.parametrize('config', CONFIGS,
                         ids=[osp.relpath(c, REPO) for c in CONFIGS])
def test_config_matches_its_weight_source(config):
    cfg = Config.fromfile(config)
    pre = cfg.model.get('data_preprocessor', None) or cfg.data_preprocessor
    source = _source(cfg)
    if source is None:  # trained from scratch: nothing to match
        assert check_input_normalisation(cfg) is None
        return
    mean, std = _independent(source)
    assert pre.mean == pytest.approx(mean, abs=1e-3), (config, source)
    assert pre.std == pytest.approx(std, abs=1e-3), (config, source)
    assert pre.to_rgb is True
    # the start-up check knows the source and agrees
    assert check_input_normalisation(cfg) is not None


def test_tresnet_weights_take_unnormalised_inputs():
    exp = expected_normalisation('timm/tresnet_l.miil_in1k_448')
    assert exp['mean'] == (0.0, 0.0, 0.0)
    assert exp['std'] == (255.0, 255.0, 255.0)
    # the same from a local copy named as the hub file
    assert expected_normalisation(
        '/w/tresnet_l.miil_in1k_448.safetensors')['std'] == exp['std']
    assert expected_normalisation(
        '/w/resnet101-63fe2227.pth')['mean'] == IMAGENET[0]
    assert expected_normalisation('torchvision://resnet50')['std'] == \
        IMAGENET[1]
    # a file of your own says nothing
    assert expected_normalisation('/w/my_backbone.pth') is None
    assert expected_normalisation('timm/not_a_model.nowhere') is None


def test_mismatch_stops_with_the_values_to_set():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'q2l_irpe',
                                   'coco_tresnetl_448.py'))
    cfg.data_preprocessor.mean = list(IMAGENET[0])
    cfg.data_preprocessor.std = list(IMAGENET[1])
    with pytest.raises(InputNormalisationError) as err:
        check_input_normalisation(cfg)
    msg = str(err.value)
    assert 'timm/tresnet_l.miil_in1k_448' in msg
    assert 'mean=[0, 0, 0], std=[255, 255, 255]' in msg
    assert 'coco_tresnetl_448.py' in msg
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'q2l_irpe',
                                   'coco_r101_448.py'))
    cfg.data_preprocessor.to_rgb = False  # BGR into RGB weights
    with pytest.raises(InputNormalisationError, match='to_rgb=False'):
        check_input_normalisation(cfg)


def test_train_tool_refuses_a_mismatch(tmp_path):
    from conftest import load_tool
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'voc07_tresnetl_448.py')
    with pytest.raises(InputNormalisationError):
        load_tool('train').main([
            config, '--work-dir', str(tmp_path), '--cfg-options',
            'data_preprocessor.mean=[123.675,116.28,103.53]',
            'data_preprocessor.std=[58.395,57.12,57.375]'])
