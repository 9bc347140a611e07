"""The registered multi-label metric (docs/method.md section 5)."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mlic.structures.ignored_labels import ignored_classes
from mlic.registry import METRICS
from ..functional import (METRIC_NAMES, check_finite_scores,
                          multilabel_metrics)
from ..predictions import save_predictions
from ..thresholds import read_threshold_file, resolve_thresholds


def _target_row(sample, num_classes):
    """(C,) int8 row in {1, 0, -1} from a packed data sample dict."""
    if 'gt_score' in sample and sample['gt_score'] is not None and len(
            sample['gt_score']) == num_classes:
        row = (np.asarray(sample['gt_score'].cpu()) > 0.5).astype(np.int8)
    else:
        row = np.zeros(num_classes, dtype=np.int8)
        labels = np.asarray(sample['gt_label'].cpu()).astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'gt_label {labels.tolist()} of {sample.get("img_path", "?")} '
                f'is out of range for {num_classes} predicted classes')
        row[labels] = 1
    row[ignored_classes(sample, row == 1)] = -1
    return row


@METRICS.register_module()
class MLICMetric(BaseMetric):
    """mAP, CP, CR, CF1, OP, OR, OF1 (percent) for multi-label classification.

    Computed by :func:`mlic.evaluation.multilabel_metrics` once all results
    are gathered (mmengine collects them from every rank and drops the
    padding a distributed sampler adds, so no image counts twice).

    Args:
        thr (float | list | dict | str): score threshold of the
            CP/CR/CF1/OP/OR/OF1 metrics (a class is predicted at
            ``score >= thr``): one number, one per class (a list in class
            order or a ``{class name: thr}`` dict), or a JSON file of
            per-class thresholds (``calibrate_thresholds.py``).
        topk (int, optional): also report the six metrics for the top-k
            predictions of each image (keys ``CP_top3`` ...).
        interpolated (bool): interpolated VOC AP instead of the plain AP.
        classwise (bool): log a per-class AP table and also return each
            class's AP as ``'AP/<class name>'`` (NaN without positives).
        out_file (str, optional): save the per-image results there, an
            ``.npz`` predictions file (:mod:`mlic.evaluation.predictions`:
            ``scores`` (N, C) float32, ``targets`` (N, C) int8 with -1 for
            ignored entries, ``img_ids``, ``img_paths``, ``classes``).
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.
    """
    default_prefix: Optional[str] = ''  # keys are plain: mAP, CP, ...

    def __init__(self,
                 thr: Union[float, Sequence[float], dict, str] = 0.5,
                 topk: Optional[int] = None,
                 interpolated: bool = False,
                 classwise: bool = False,
                 out_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(thr, str):
            read_threshold_file(thr)  # a missing/garbled file fails now
        elif not isinstance(thr, dict):
            resolve_thresholds(thr, None, int(np.size(thr)))
        self.thr = thr
        self.topk = topk
        self.interpolated = interpolated
        self.classwise = classwise
        self.out_file = out_file

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            score = sample['pred_score']
            score = score.detach().float().cpu().numpy().astype(np.float32)
            self.results.append(
                dict(
                    score=score,
                    target=_target_row(sample, score.shape[0]),
                    img_id=sample.get('img_id', sample.get('sample_idx')),
                    img_path=sample.get('img_path')))

    def compute_metrics(self, results: List[dict]) -> dict:
        scores = np.stack([r['score'] for r in results])
        targets = np.stack([r['target'] for r in results])
        check_finite_scores(scores, [r['img_path'] or r['img_id']
                                     for r in results])
        classes = (self.dataset_meta or {}).get('classes', None)
        thr = resolve_thresholds(self.thr, classes, scores.shape[1])
        metrics = multilabel_metrics(
            scores,
            targets,
            thr=thr,
            topk=self.topk,
            interpolated=self.interpolated)
        per_class = metrics.pop('AP_per_class')
        classes = (self.dataset_meta or {}).get('classes', None)
        if classes is None or len(classes) != scores.shape[1]:
            classes = [str(i) for i in range(scores.shape[1])]
        if self.classwise:
            MMLogger.get_current_instance().info(
                '\n' + format_per_class_table(per_class, classes))
        if self.out_file:
            dump_results(self.out_file, scores, targets, results, classes)
        out = {k: float(v) for k, v in metrics.items()}
        # Keep the headline numbers first in logs.
        out = {k: out[k] for k in METRIC_NAMES} | {
            k: v
            for k, v in out.items() if k not in METRIC_NAMES
        }
        if self.classwise:
            # tools/test.py turns these into the per-class table and files.
            out.update({f'{PER_CLASS_PREFIX}{name}': float(ap)
                        for name, ap in zip(classes, per_class)})
        return out


PER_CLASS_PREFIX = 'AP/'


def format_per_class_table(per_class_ap, classes) -> str:
    """A text table: one row per class with its AP (percent, 1 decimal)."""
    width = max(len('class'), *(len(c) for c in classes))
    lines = [f'{"class":<{width}}  AP', '-' * (width + 8)]
    for name, ap in zip(classes, per_class_ap):
        value = '  n/a' if np.isnan(ap) else f'{ap:5.1f}'
        lines.append(f'{name:<{width}}  {value}')
    valid = per_class_ap[~np.isnan(per_class_ap)]
    lines.append('-' * (width + 8))
    lines.append(f'{"mAP":<{width}}  {valid.mean() if valid.size else 0:5.1f}')
    return '\n'.join(lines)


def dump_results(path, scores, targets, results, classes):
    save_predictions(path, scores, targets, classes,
                     img_ids=[r['img_id'] for r in results],
                     img_paths=[r['img_path'] for r in results])
    MMLogger.get_current_instance().info(
        f'Per-image scores of {len(results)} images saved to {path}')
