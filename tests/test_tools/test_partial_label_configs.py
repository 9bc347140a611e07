"""The partial-label configs build and train two steps, at narrow width, on
tiny data: COCO with half the labels hidden, with single positives, and
OpenImages' own files with grouped queries."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, as_cli, load_tool
from test_paper_configs import tiny_coco, tiny_overrides, weights_dir  # noqa

pytestmark = pytest.mark.slow

# the demo's config is trained by test_partial_label_tools.py (the grid)
CONFIGS = sorted(c for c in glob.glob(osp.join(REPO, 'configs',
                                               'partial_labels', '*.py'))
                 if not osp.basename(c).startswith('shapes'))
NARROW = {'model.neck.embed_dims': 64, 'model.neck.feedforward_channels': 128,
          'model.head.in_channels': 64,
          'model.head.feedforward_channels': 128}


def _openimages(root):
    root.mkdir(parents=True)
    mids = [f'/m/0{k}x' for k in range(6)]
    (root / 'desc.csv').write_text('LabelName,DisplayName\n' + ''.join(
        f'{m},class {k}\n' for k, m in enumerate(mids)))
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        (root / split).mkdir(parents=True)
        rows = ['ImageID,Source,LabelName,Confidence']
        for i in range(4):
            image = f'{split}{i:04x}'
            cv2.imwrite(str(root / split / f'{image}.jpg'),
                        rng.integers(0, 255, (72, 72, 3), dtype=np.uint8))
            for k in rng.choice(6, 3, replace=False):
                rows.append(f'{image},verification,{mids[k]},'
                            f'{int(rng.random() < 0.5)}')
        (root / f'{split}.csv').write_text('\n'.join(rows) + '\n')


def _overrides(name, coco_root, tmp_path):
    if name.startswith('coco'):
        opts = tiny_overrides(coco_root, 'coco_x.py')
        # the train split is wrapped by HideLabels
        for key in [k for k in opts if k.startswith('train_dataloader.'
                                                    'dataset.')]:
            opts[key.replace('dataset.', 'dataset.dataset.', 1)] = \
                opts.pop(key)
        return opts
    root = tmp_path / 'oi'
    _openimages(root)
    opts = tiny_overrides(str(root), 'coco_x.py')
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'val'),
                          ('test_dataloader', 'val')):
        opts.update({f'{loader}.dataset.data_root': str(root),
                     f'{loader}.dataset.ann_file': f'{split}.csv',
                     f'{loader}.dataset.data_prefix': split,
                     f'{loader}.dataset.class_descriptions': 'desc.csv',
                     f'{loader}.dataset.trainable_classes': None})
    opts.update({'model.head.num_classes': 6, 'model.head.num_queries': 3,
                 'data_preprocessor.num_classes': 6})
    return opts


@pytest.mark.parametrize('config', CONFIGS,
                         ids=[osp.basename(c) for c in CONFIGS])
def test_partial_label_config_trains_two_steps(config, tiny_coco,  # noqa
                                               weights_dir, tmp_path,  # noqa
                                               monkeypatch):
    name = osp.basename(config)
    monkeypatch.setenv('MLIC_PRETRAINED_DIR', weights_dir)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    opts = dict(_overrides(name, tiny_coco, tmp_path), **NARROW)
    torch.manual_seed(0)
    runner = load_tool('train').main(
        [config, '--work-dir', str(tmp_path / 'w'), '--cfg-options']
        + as_cli(opts))
    assert runner.iter == 2
    loss = runner.model.head.loss_module
    assert type(loss).__name__ == 'PartialLabelLoss'
    scalars = runner.message_hub.log_scalars
    assert 0.0 <= scalars['val/mAP'].current() <= 100.0
    if name.startswith('openimages'):
        assert runner.model.head.num_queries == 3
        # verified negatives known, the rest unknown
        info = runner.train_dataloader.dataset.get_data_info(0)
        assert 'gt_label_negative' in info
    else:
        dataset = runner.train_dataloader.dataset
        assert type(dataset.seeded_dataset).__name__ == 'HideLabels'
    if 'single_positive' in name:
        # ROLE: a table row per train2014 image; the rows of the images of
        # the two steps took one estimator step each
        assert loss.mode == 'role'
        assert tuple(loss.role_logits.shape) == (82783, 80)
        batch = runner.train_dataloader.batch_size
        assert int(loss.role_steps.sum()) == 2 * batch
