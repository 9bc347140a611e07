"""Result files for the PASCAL VOC evaluation server (classification).

VOC 2012 test labels are withheld; the server scores a tar archive of
``results/VOC2012/Main/comp<N>_cls_test_<class>.txt``, one file per class,
each with one line ``<image id> <confidence>`` per test image. ``comp1``
is for methods trained on VOC data only, ``comp2`` for methods using any
other data - an ImageNet-pretrained backbone is other data, hence the
default ``comp=2``.
"""
import os
import os.path as osp
import tarfile
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mlic.fileio import atomic_output, atomic_write
from mlic.registry import METRICS


def write_voc_cls_results(out_dir: str, img_ids: Sequence[str],
                          scores: np.ndarray, classes: Sequence[str],
                          comp: int = 2, year: str = 'VOC2012',
                          split: str = 'test') -> dict:
    """Write the per-class files and the archive; return their paths.

    Args:
        out_dir: the files go to ``out_dir/results/<year>/Main/`` and the
            archive to ``out_dir/results_<year>_comp<N>_cls_<split>.tar.gz``
            (containing ``results/<year>/Main/...``).
        img_ids: the image ids, in the order of ``scores``' rows.
        scores: (N, C) confidences in [0, 1].
        classes: the C class names (VOC's lowercase names).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if comp not in (1, 2):
        raise ValueError(f'comp={comp!r}: VOC classification results are '
                         'comp1 (VOC data only) or comp2 (other data too)')
    if scores.ndim != 2 or scores.shape != (len(img_ids), len(classes)):
        raise ValueError(f'scores of shape {scores.shape} for '
                         f'{len(img_ids)} images x {len(classes)} classes')
    if not np.isfinite(scores).all() or scores.min() < 0 or scores.max() > 1:
        raise ValueError('VOC result scores must be finite and in [0, 1]')
    if len(set(img_ids)) != len(img_ids):
        raise ValueError('duplicate image ids in the results')
    bad = [i for i in img_ids if not isinstance(i, str) or not i
           or any(ch.isspace() for ch in i)]
    if bad:
        raise ValueError(f'image ids must be non-empty strings without '
                         f'spaces (the VOC id, e.g. 2008_000001); got '
                         f'{bad[:3]}')
    main = osp.join(out_dir, 'results', year, 'Main')
    os.makedirs(main, exist_ok=True)
    files = []
    for c, name in enumerate(classes):
        path = osp.join(main, f'comp{comp}_cls_{split}_{name}.txt')
        with atomic_write(path) as f:
            f.writelines(f'{img_id} {score:.6f}\n'
                         for img_id, score in zip(img_ids, scores[:, c]))
        files.append(path)
    archive = osp.join(out_dir,
                       f'results_{year}_comp{comp}_cls_{split}.tar.gz')
    with atomic_output(archive) as tmp:
        with tarfile.open(tmp, 'w:gz') as tar:
            for path in files:
                tar.add(path, arcname=osp.relpath(path, out_dir))
    return dict(files=files, archive=archive)


@METRICS.register_module()
class VOCSubmissionWriter(BaseMetric):
    """Collects scores and writes VOC server files instead of metrics.

    Used by ``tools/test.py --format-only --out-dir DIR`` (or directly as a
    ``test_evaluator``). Needs ``img_id`` in the data samples' metainfo
    (``PackInputs(meta_keys=(..., 'img_id'))``, as the VOC configs do).

    Args:
        out_dir (str): where ``results/<year>/Main/`` and the archive go.
        comp (int): 1 (VOC data only) or 2 (other data, e.g. ImageNet
            pretraining; default).
        year (str, optional): ``'VOC2012'`` (the server's test set) or
            ``'VOC2007'``; default the test dataset's (``VOCMultiLabel``
            keeps it in its metainfo).
        split (str): the split name in the file names (``'test'``).
    """
    default_prefix = 'voc_submission'

    def __init__(self, out_dir: str, comp: int = 2,
                 year: Optional[str] = None,
                 split: str = 'test', collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if comp not in (1, 2):
            raise ValueError(f'VOCSubmissionWriter: comp={comp!r} must be '
                             '1 or 2')
        self.out_dir = out_dir
        self.comp = comp
        self.year = year
        self.split = split

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            img_id = sample.get('img_id', None)
            if img_id is None:
                raise KeyError(
                    "VOCSubmissionWriter: a data sample has no 'img_id'; add "
                    "'img_id' to PackInputs' meta_keys in the test pipeline")
            score = sample['pred_score'].detach().float().cpu().numpy()
            self.results.append((str(img_id), score))

    def compute_metrics(self, results) -> dict:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            raise ValueError('VOCSubmissionWriter: the dataset has no '
                             'classes in its metainfo')
        img_ids = [r[0] for r in results]
        scores = np.stack([r[1] for r in results])
        year = self.year or (self.dataset_meta or {}).get('year')
        if year is None:
            raise ValueError(
                'VOCSubmissionWriter: which VOC year? The test dataset has no '
                "'year' in its metainfo (its data_root has no VOC20xx "
                "folder): set VOCMultiLabel(year='VOC2012') or the writer's "
                'year')
        out = write_voc_cls_results(self.out_dir, img_ids, scores, classes,
                                    self.comp, year, self.split)
        MMLogger.get_current_instance().info(
            f'Wrote {len(out["files"])} VOC result files '
            f'({len(img_ids)} images each) to '
            f'{osp.dirname(out["files"][0])} and the archive {out["archive"]}')
        return dict(num_images=len(img_ids), num_files=len(out['files']))
