"""The labels of a config's dataset split, without reading an image (label
statistics, ground truth beside attention maps)."""
import copy
from typing import List, Tuple

import numpy as np

from mlic.registry import DATASETS

SPLITS = dict(train='train_dataloader', val='val_dataloader',
              test='test_dataloader')


def build_labels_only(cfg, split: str):
    """The dataset of ``split`` built with empty pipelines (mlic's modules
    registered first: :func:`mlic.utils.register_all_modules`)."""
    if split not in SPLITS:
        raise KeyError(f'split {split!r}: one of {sorted(SPLITS)}')
    loader = cfg.get(SPLITS[split], None)
    if not loader:
        raise KeyError(f'the config has no {SPLITS[split]} (split {split})')
    ds_cfg = copy.deepcopy(loader['dataset'])

    def strip(c):  # labels only: no image is read
        if isinstance(c.get('dataset', None), dict):  # a wrapper
            strip(c['dataset'])
            return
        c['pipeline'] = []
        for sub in c.get('datasets', []) or []:
            strip(sub)
    strip(ds_cfg)
    return DATASETS.build(ds_cfg)


def split_labels(cfg, split: str) -> Tuple[List[str], list]:
    """(class names, [(image path, class indices)]) of a split."""
    return dataset_labels(build_labels_only(cfg, split))


def dataset_labels(dataset) -> Tuple[List[str], list]:
    """(class names, [(image path, class indices)]) of a built dataset."""
    classes = [str(c) for c in dataset.metainfo['classes']]
    items = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        items.append((info.get('img_path'),
                      np.asarray(info.get('gt_label', []), dtype=np.int64)))
    return classes, items


def label_matrix(items, num_classes: int) -> np.ndarray:
    """(N, C) {0, 1} int64 positives of :func:`split_labels`' items."""
    labels = np.zeros((len(items), num_classes), dtype=np.int64)
    for i, (_, gt) in enumerate(items):
        labels[i, gt] = 1
    return labels
