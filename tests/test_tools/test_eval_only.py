"""tools/test.py evaluates with only the evaluation split on disk.

The paper configs describe training too (train split, optimizer, EMA,
early stopping); an evaluation must build none of that. Each test writes
only the split it evaluates, makes a checkpoint of the shrunk model
without training, and makes every training-only builder fail if called.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.hooks import EarlyStoppingHook, EMAHook
from mmengine.runner import Runner

from conftest import (REPO, VOC_CLASSES, as_cli, free_port, load_tool,
                      run_tool, write_coco, write_voc)
from mlic.registry import MODELS
from mlic.utils import load_config, register_all_modules

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

R18 = {
    'model.backbone.depth': 18,
    # test.py must not load backbone weights (the checkpoint has them)
    'model.backbone.init_cfg.checkpoint': '/nonexistent/resnet18.pth',
    'model.neck.in_channels': 512,
    'model.neck.embed_dims': 64,
    'model.neck.feedforward_channels': 128,
    'model.head.in_channels': 64,
    'model.head.feedforward_channels': 128,
}
TRESNET_M = {
    'model.backbone.model_name': 'tresnet_m',
    'model.backbone.init_cfg.checkpoint': '/nonexistent/tresnet_m.pth',
    'model.neck.in_channels': 2048,
    'model.neck.embed_dims': 64,
    'model.neck.feedforward_channels': 128,
    'model.head.in_channels': 64,
    'model.head.feedforward_channels': 128,
}


def _loaders(**data):
    opts = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.batch_size': 2, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False,
                     f'{loader}.dataset.pipeline.1.scale': (64, 64)})
        opts.update({f'{loader}.dataset.{k}': v for k, v in data.items()})
    return opts


def _checkpoint(config, opts, path):
    """The shrunk model's weights, saved as a (not trained) checkpoint."""
    register_all_modules()
    cfg = load_config(config, opts)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Anything only training needs fails the test if it is built."""
    def refuse(what):
        def fail(*args, **kwargs):
            raise AssertionError(f'an evaluation built {what}')
        return fail
    monkeypatch.setattr(Runner, 'build_optim_wrapper', refuse('an optimizer'))
    monkeypatch.setattr(Runner, 'build_param_scheduler',
                        refuse('a parameter scheduler'))
    monkeypatch.setattr(Runner, 'build_train_loop', refuse('the train loop'))
    monkeypatch.setattr(EMAHook, 'before_run', refuse('the EMA model'))
    monkeypatch.setattr(EarlyStoppingHook, 'before_run',
                        refuse('early stopping'))


def test_coco_config_evaluates_without_train2014(tmp_path, capsys,
                                                 no_training):
    root = str(tmp_path / 'coco')
    cats = [(i + 1 + i // 10, f'class{i}') for i in range(80)]
    rng = np.random.default_rng(0)
    images = [(k + 1, f'v{k}.jpg') for k in range(4)]
    anns = [(k + 1, cats[c][0]) for k in range(4)
            for c in rng.choice(80, 3, replace=False)]
    # only val2014 and its annotations: no train2014 anything
    write_coco(root, images, cats, anns, img_dir='val2014',
               ann_name='annotations/instances_val2014.json', size=48)
    assert not osp.exists(osp.join(root, 'annotations',
                                   'instances_train2014.json'))
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'coco_r101_448.py')
    opts = _loaders(data_root=root) | R18
    ckpt = _checkpoint(config, opts, str(tmp_path / 'model.pth'))
    capsys.readouterr()
    metrics = load_tool('test').main(
        [config, ckpt, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options'] + as_cli(opts))
    out = capsys.readouterr().out
    assert 0.0 <= metrics['mAP'] <= 100.0
    assert 'mAP' in out and 'OF1' in out
    assert ('not building the training-only hooks DualEMAHook, '
            'EarlyStoppingHook') in out


def test_voc07_config_evaluates_without_trainval(tmp_path, no_training):
    images = {f'00{i:04d}': [(VOC_CLASSES[(3 * i) % 20], 0),
                             (VOC_CLASSES[(5 * i) % 20], i % 2)]
              for i in range(4)}
    # VOC2007 with the test split only (no trainval.txt)
    root = write_voc(tmp_path / 'VOC2007', images, dict(test=list(images)))
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'voc07_r101_448.py')
    opts = _loaders(data_root=root) | R18
    ckpt = _checkpoint(config, opts, str(tmp_path / 'model.pth'))
    metrics = load_tool('test').main(
        [config, ckpt, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options'] + as_cli(opts))
    assert 0.0 <= metrics['mAP'] <= 100.0
    assert 'AP/aeroplane' in metrics  # VOC configs report per class


def test_voc12_format_only_with_dist_test_and_test_split_only(tmp_path):
    """bash tools/dist_test.sh ... 2 --format-only: the VOC 2012 server files
    from a tree with only the (unlabelled) test split."""
    test_ids = ['2012_000010', '2012_000003', '2012_000001', '2012_000007']
    root = write_voc(tmp_path / 'VOC2012', {i: [] for i in test_ids},
                     dict(test=test_ids), with_annotations=False)
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'voc12_tresnetl_448.py')
    opts = _loaders(data_root=root) | TRESNET_M
    opts['test_dataloader.batch_size'] = 1
    ckpt = _checkpoint(config, opts, str(tmp_path / 'model.pth'))
    out_dir = str(tmp_path / 'submit')
    proc = run_tool(
        ['tools/dist_test.sh', config, ckpt, '2', '--work-dir',
         str(tmp_path / 'work'), '--format-only', '--out-dir', out_dir,
         '--cfg-options'] + as_cli(opts), cwd=str(tmp_path),
        env={'PORT': free_port()}, timeout=300)
    assert 'VOC result files written' in proc.stdout
    # no EMA copy of the model in either process
    assert proc.stdout.count('not building the training-only hooks '
                             'DualEMAHook') == 2
    main = osp.join(out_dir, 'results', 'VOC2012', 'Main')
    for cls in VOC_CLASSES:
        lines = open(osp.join(main, f'comp2_cls_test_{cls}.txt')).read()
        assert [ln.split()[0] for ln in lines.splitlines()] == test_ids
