"""Every config under configs/q2l_irpe/ trains two iterations and validates.

The real configs run with size overrides only (64 px images, batch 2, one
epoch, no checkpoint files) on tiny generated data: a COCO-format dataset
with 80 classes (COCO configs), VOCdevkit trees (VOC configs), the built-in
shapes data (shapes configs). The backbone weights come from local files
the test writes in the public naming of each source (torchvision .pth, timm
safetensors), found through $MLIC_PRETRAINED_DIR - so resolution,
conversion and loading run as they do for a user.
"""
import glob
import importlib.util
import os.path as osp

import numpy as np
import pytest
import timm
import torch
import torchvision

from conftest import (REPO, VOC_CLASSES, as_cli, free_port, load_tool,
                      run_tool, write_coco, write_voc)

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

ALL_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'q2l_irpe', '**', '*.py'),
              recursive=True))
PAPER_CONFIGS = [c for c in ALL_CONFIGS
                 if osp.basename(c).startswith(('coco', 'voc'))]
IDS = [osp.relpath(c, osp.join(REPO, 'configs', 'q2l_irpe'))
       for c in ALL_CONFIGS]

# file name in $MLIC_PRETRAINED_DIR -> (library, architecture)
WEIGHTS = {
    'resnet101-63fe2227.pth': ('torchvision', 'resnet101'),
    'tresnet_l.miil_in1k_448.safetensors': ('timm', 'tresnet_l'),
    'convnextv2_base.fcmae_ft_in22k_in1k_384.safetensors':
    ('timm', 'convnextv2_base'),
    'swin_large_patch4_window12_384.ms_in22k_ft_in1k.safetensors':
    ('timm', 'swin_large_patch4_window12_384'),
}


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco80'))
    cats = [(i + 1 + i // 10, f'class{i}') for i in range(80)]  # gapped ids
    rng = np.random.default_rng(0)
    for split, n in (('train', 4), ('val', 4)):
        images = [(k + 1, f'{split}_{k}.jpg') for k in range(n)]
        anns = [(k + 1, cats[c][0]) for k in range(n)
                for c in rng.choice(80, 3, replace=False)]
        write_coco(root, images, cats, anns, img_dir=split,
                   ann_name=f'{split}.json', size=72)
    return root


@pytest.fixture(scope='module')
def tiny_voc(tmp_path_factory):
    root = tmp_path_factory.mktemp('VOCdevkit')
    images = {f'00{i:04d}': [(VOC_CLASSES[(3 * i) % 20], 0),
                             (VOC_CLASSES[(5 * i) % 20], i % 2)]
              for i in range(8)}
    ids = list(images)
    write_voc(root / 'VOC2007', images,
              dict(trainval=ids[:4], test=ids[4:]))
    write_voc(root / 'VOC2012', images,
              dict(trainval=ids[:4], val=ids[2:6]))
    write_voc(root / 'VOC2012', {'2012_000001': [], '2012_000002': []},
              dict(test=['2012_000001', '2012_000002']),
              with_annotations=False)
    return str(root)


@pytest.fixture(scope='module')
def weights_dir(tmp_path_factory):
    """Randomly initialised weights, saved as their public files are."""
    from safetensors.torch import save_file
    root = tmp_path_factory.mktemp('weights')
    for name, (lib, arch) in WEIGHTS.items():
        if lib == 'torchvision':
            model = getattr(torchvision.models, arch)()
            torch.save(model.state_dict(), str(root / name))
        else:
            model = timm.create_model(arch)
            # fp16 keeps the test's disk writes small; loading casts.
            save_file({k: v.half().contiguous() if v.is_floating_point()
                       else v.contiguous()
                       for k, v in model.state_dict().items()},
                      str(root / name))
        del model
    return str(root)


FULL_SIZE = 'coco_r101_448.py'


def shrink_transformer(name, config):
    """Every paper config but the main one runs with a narrow transformer
    (64-d, FFN 128) on its own backbone and weights: the 2048-d encoder and
    decoder are the same modules in all of them, trained at full width by
    coco_r101_448.py's row; what differs - backbone, weights, input
    normalisation, resolution, data, the ablation's one setting - is
    exercised in full."""
    return name != FULL_SIZE and name.startswith(('coco', 'voc'))


def tiny_overrides(root, config='coco', full_path=None):
    """--cfg-options that shrink a config to the tiny datasets."""
    name = osp.basename(config)
    config = full_path or config
    opts = {}
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'val'),
                          ('test_dataloader', 'val')):
        opts.update({
            f'{loader}.batch_size': 2,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
        dataset = f'{loader}.dataset'
        if name.startswith('voc12') and loader == 'train_dataloader' and \
                name.endswith('plus07.py'):
            for k, year in enumerate(('VOC2012', 'VOC2007')):
                opts[f'{dataset}.datasets.{k}.data_root'] = \
                    osp.join(root, year)
                opts[f'{dataset}.datasets.{k}.pipeline.1.scale'] = (64, 64)
            continue
        opts[f'{dataset}.pipeline.1.scale'] = (64, 64)
        if name.startswith('voc'):
            year = 'VOC2007' if name.startswith('voc07') else 'VOC2012'
            opts[f'{dataset}.data_root'] = osp.join(root, year)
        elif name.startswith('shapes'):
            opts[f'{dataset}.num_images.train'] = 4
            opts[f'{dataset}.num_images.val'] = 4
        else:
            opts.update({
                f'{dataset}.data_root': root,
                f'{dataset}.ann_file': f'{split}.json',
                f'{dataset}.data_prefix': split,
            })
    if shrink_transformer(name, config):
        opts.update({'model.neck.embed_dims': 64,
                     'model.neck.feedforward_channels': 128,
                     'model.head.in_channels': 64,
                     'model.head.feedforward_channels': 128})
    opts.update({
        'train_cfg.max_epochs': 1,
        'default_hooks.checkpoint.save_best': None,
        'default_hooks.checkpoint.save_last': False,
        'default_hooks.checkpoint.interval': -1,
        'default_hooks.logger.interval': 1,
    })
    return opts


@pytest.mark.parametrize('config', ALL_CONFIGS, ids=IDS)
def test_config_trains_two_iters_and_validates(
        config, tiny_coco, tiny_voc, weights_dir, tmp_path, monkeypatch):
    monkeypatch.setenv('MLIC_PRETRAINED_DIR', weights_dir)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')  # nothing may download
    name = osp.basename(config)
    root = tiny_voc if name.startswith('voc') else tiny_coco
    train = load_tool('train')
    torch.manual_seed(0)
    runner = train.main([config, '--work-dir', str(tmp_path),
                         '--cfg-options']
                        + as_cli(tiny_overrides(root, name, config)))
    # 4 images (8 for 2012+2007), batch 2, one epoch
    assert runner.iter == len(runner.train_dataloader.dataset) // 2 >= 2
    scalars = runner.message_hub.log_scalars
    assert 0.0 <= scalars['val/mAP'].current() <= 100.0
    assert 'val/OF1' in scalars
    if config in PAPER_CONFIGS:
        # the paper's recipe: raw and EMA validated
        assert 'val/raw/mAP' in scalars and 'val/ema/mAP' in scalars
        # the pretrained file (not a random init) is in the backbone
        log = open(glob.glob(osp.join(str(tmp_path), '*', '*.log'))[0]).read()
        assert any(f'from {osp.join(weights_dir, n)}' in log
                   for n in WEIGHTS), 'backbone weights were not loaded'
        classes = 20 if name.startswith('voc') else 80
        assert runner.model.head.num_classes == classes
    del runner


def test_lr_curve_of_paper_configs():
    """One-cycle: max_lr/25 at the start, peak at 20%, ends near zero -
    through the script users run (tools/analysis_tools/print_lr_schedule)."""
    from mmengine.config import Config
    spec = importlib.util.spec_from_file_location(
        'print_lr_schedule', osp.join(REPO, 'tools', 'analysis_tools',
                                      'print_lr_schedule.py'))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    iters_per_epoch = 50
    for config in PAPER_CONFIGS:
        cfg = Config.fromfile(config)
        # the peak is the optimizer's lr (one source of truth)
        assert 'eta_max' not in cfg.param_scheduler[0]
        max_lr = cfg.optim_wrapper.optimizer.lr
        lrs = np.array(script.lr_curve(cfg, iters_per_epoch))
        total = cfg.train_cfg.max_epochs * iters_per_epoch
        assert len(lrs) == total
        assert lrs[0] == pytest.approx(max_lr / 25, rel=1e-6), config
        assert lrs.max() == pytest.approx(max_lr, rel=1e-6)
        assert abs(int(lrs.argmax()) - 0.2 * total) <= 1, config
        assert lrs[-1] < max_lr * 1e-3, config
        assert (np.diff(lrs[:int(0.2 * total) - 1]) > 0).all()
        assert (np.diff(lrs[int(0.2 * total) + 1:]) < 0).all()


def test_dist_train_convnextv2_two_processes(tiny_coco, weights_dir,
                                             tmp_path):
    """bash tools/dist_train.sh configs/q2l_irpe/coco_convnextv2.py 2 (CPU),
    with the weights given as a local file through --cfg-options."""
    opts = tiny_overrides(tiny_coco)
    opts['train_dataloader.batch_size'] = 1  # 2 procs x 1 = 2 per step
    # the backbone and its weights file as they are; a narrow transformer
    opts.update({'model.neck.embed_dims': 64,
                 'model.neck.feedforward_channels': 128,
                 'model.head.in_channels': 64,
                 'model.head.feedforward_channels': 128})
    ckpt = osp.join(weights_dir,
                    'convnextv2_base.fcmae_ft_in22k_in1k_384.safetensors')
    opts['model.backbone.init_cfg.checkpoint'] = ckpt
    env = {'HF_HUB_OFFLINE': '1', 'MLIC_PRETRAINED_DIR': '',
           'PORT': free_port()}
    proc = run_tool(['tools/dist_train.sh',
                     'configs/q2l_irpe/coco_convnextv2.py', '2',
                     '--work-dir', str(tmp_path), '--cfg-options']
                    + as_cli(opts), cwd=REPO, env=env, timeout=900)
    out = proc.stdout + proc.stderr
    assert f'from {ckpt}' in out
    assert 'Epoch(val) [1]' in out and 'ema/mAP' in out
