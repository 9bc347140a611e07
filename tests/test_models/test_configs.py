"""Every model config builds, trains a step and predicts."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mlic.registry import MODELS
from mlic.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'q2l_irpe', '**', 'shapes*.py'),
              recursive=True) +
    glob.glob(osp.join(REPO, 'configs', 'baselines', '*.py')))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(c, REPO) for c in CONFIGS])
def test_model_config_builds_and_steps(path):
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(path)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mlic'):
        model = MODELS.build(cfg.model)
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label([1, 4]), DataSample().set_gt_label([0])]
    losses = model(x, samples, mode='loss')
    total = sum(v for v in losses.values())
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        preds = model(x, [DataSample(), DataSample()], mode='predict')
    assert preds[0].pred_score.shape == (cfg.model.head.num_classes, )


def test_ablation_configs_differ_by_one_setting():
    def load(name):
        return Config.fromfile(
            osp.join(REPO, 'configs', 'q2l_irpe', 'ablations', name)).model
    demo = Config.fromfile(
        osp.join(REPO, 'configs', 'q2l_irpe', 'shapes_demo.py')).model
    assert load('shapes_enc_standard.py').neck.rpe is None
    assert load('shapes_enc_none.py').neck.num_layers == 0
    assert load('shapes_enc_irpe.py') == demo
    assert load('shapes_dec_sa_second.py').head.self_attn == [False, True]
    assert load('shapes_dec_sa_both.py').head.self_attn is True
    bce = load('shapes_loss_bce.py').head.loss
    assert (bce.gamma_pos, bce.gamma_neg, bce.clip) == (0, 0, 0.0)
    assert load('shapes_loss_apl.py').head.loss == demo.head.loss


def _diff(a, b, path=''):
    """Paths where two nested config dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k, '<missing>'), b.get(k, '<missing>'),
                         f'{path}.{k}' if path else k)
        return out
    return [] if a == b else [path]


def test_coco_ablations_differ_from_the_main_config_by_one_setting():
    folder = osp.join(REPO, 'configs', 'q2l_irpe')
    main = Config.fromfile(osp.join(folder, 'coco_r101_448.py'))
    loss = ['model.head.loss.alpha1', 'model.head.loss.alpha2',
            'model.head.loss.clip', 'model.head.loss.gamma_pos',
            'model.head.loss.gamma_neg']
    expected = {
        'coco_enc_irpe.py': [],
        'coco_dec_sa_none.py': [],
        'coco_loss_apl.py': [],
        'coco_enc_standard.py': ['model.neck.rpe'],
        'coco_enc_none.py': ['model.neck.num_layers'],
        'coco_dec_sa_both.py': ['model.head.self_attn'],
        'coco_dec_sa_second.py': ['model.head.self_attn'],
        'coco_loss_bce.py': [p for p in loss if not p.endswith('gamma_pos')],
        'coco_loss_focal.py': [p for p in loss if not p.endswith('gamma_neg')],
        'coco_loss_asl.py': loss[:2],
    }
    names = sorted(osp.basename(p) for p in glob.glob(
        osp.join(folder, 'ablations', 'coco_*.py')))
    assert names == sorted(expected)
    for name, paths in expected.items():
        cfg = Config.fromfile(osp.join(folder, 'ablations', name))
        assert _diff(main.to_dict(), cfg.to_dict()) == sorted(paths), name
    bce = Config.fromfile(osp.join(folder, 'ablations',
                                   'coco_loss_bce.py')).model.head.loss
    assert (bce.gamma_pos, bce.gamma_neg, bce.clip, bce.alpha1, bce.alpha2,
            bce.beta1) == (0, 0, 0.0, 1.0, 0.5, 1.0)
