"""The registered multi-label metric (docs/method.md section 5)."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_world_size, is_main_process)
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mlic.structures.label_states import unscored_classes
from mlic.registry import METRICS
from ..functional import (METRIC_NAMES, Known, SparseLabels,
                          check_finite_scores, multilabel_metrics,
                          nothing_to_score)
from ..predictions import save_predictions
from ..thresholds import read_threshold_file, resolve_thresholds


def _sample_labels(sample, num_classes):
    """(positive, ignored) class indices of a packed data sample dict: the
    metric skips ignored and unknown labels alike (a class that is also
    positive stays positive)."""
    if 'gt_score' in sample and sample['gt_score'] is not None and len(
            sample['gt_score']) == num_classes:
        positive = np.asarray(sample['gt_score'].cpu()) > 0.5
    else:
        positive = np.zeros(num_classes, dtype=bool)
        labels = np.asarray(sample['gt_label'].cpu()).astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'gt_label {labels.tolist()} of {sample.get("img_path", "?")} '
                f'is out of range for {num_classes} predicted classes')
        positive[labels] = True
    unscored = np.asarray(unscored_classes(sample, positive), dtype=np.int32)
    if unscored.size > num_classes // 2:
        # mostly unknown (OpenImages: a few verified labels of thousands):
        # keep what is known, not every unknown class (SparseLabels' Known)
        known = np.ones(num_classes, dtype=bool)
        known[unscored] = False
        known[positive] = False
        return (np.flatnonzero(positive).astype(np.int32),
                Known(np.flatnonzero(known).astype(np.int32)))
    return np.flatnonzero(positive).astype(np.int32), unscored


def _pack(batches: list) -> dict:
    """One rank's results as one payload: the batches' scores copied into
    one (n, C) array, each batch dropped as soon as it is copied."""
    if not batches:
        return dict(scores=np.zeros((0, 0), np.float32), positives=[],
                    ignored=[], img_ids=[], img_paths=[])
    n = sum(len(b['scores']) for b in batches)
    scores = np.empty((n, batches[0]['scores'].shape[1]), dtype=np.float32)
    out = dict(scores=scores, positives=[], ignored=[], img_ids=[],
               img_paths=[])
    at = 0
    while batches:
        batch = batches.pop(0)
        k = len(batch['scores'])
        scores[at:at + k] = batch.pop('scores')
        at += k
        for key in ('positives', 'ignored', 'img_ids', 'img_paths'):
            out[key].extend(batch[key])
    return out


def _interleave(parts: list, size: int) -> dict:
    """The payloads of the ranks in dataset order, without the samples a
    distributed sampler repeats to pad: sample i was scored by rank i % W
    as its (i // W)-th (mmengine's ``collect_results`` order). Each part is
    released once copied, so rank 0 never holds two copies of the scores."""
    world = len(parts)
    if world == 1:
        part = parts.pop()
        return {k: v[:size] for k, v in part.items()}
    classes = next(p['scores'].shape[1] for p in parts if len(p['scores']))
    scores = np.empty((size, classes), dtype=np.float32)
    lists = {k: [None] * size for k in ('positives', 'ignored', 'img_ids',
                                        'img_paths')}
    for rank in range(world):
        part = parts[rank]
        parts[rank] = None
        rows = range(rank, size, world)
        scores[rank::world] = part['scores'][:len(rows)]
        for key, values in lists.items():
            for i, value in zip(rows, part[key]):
                values[i] = value
        del part
    return dict(scores=scores, **lists)


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
        """One entry per batch: its (B, C) float32 scores and each image's
        positive / ignored class indices (not a dense target row)."""
        if not data_samples:
            return
        scores = np.stack([s['pred_score'].detach().float().cpu().numpy()
                           for s in data_samples]).astype(np.float32)
        labels = [_sample_labels(s, scores.shape[1]) for s in data_samples]
        self.results.append(dict(
            scores=scores, positives=[p for p, _ in labels],
            ignored=[i for _, i in labels],
            img_ids=[s.get('img_id', s.get('sample_idx'))
                     for s in data_samples],
            img_paths=[s.get('img_path') for s in data_samples]))

    def evaluate(self, size: int) -> dict:
        """mmengine's ``BaseMetric.evaluate`` with a leaner gather: each
        rank sends one packed payload, and rank 0 lays the parts into one
        score array part by part (docs/large_scale.md)."""
        payload = _pack(self.results)
        world = get_world_size()
        if world > 1:
            parts = collect_results([payload], world, self.collect_device,
                                    **({'tmpdir': self.collect_dir}
                                       if self.collect_device == 'cpu'
                                       else {}))
            del payload
        else:
            parts = [payload]
        if is_main_process():
            metrics = self._compute(_interleave(parts, size))
            if self.prefix:
                metrics = {'/'.join((self.prefix, k)): v
                           for k, v in metrics.items()}
            out = [metrics]
        else:
            out = [None]
        broadcast_object_list(out)
        self.results.clear()
        return out[0]

    def compute_metrics(self, results: List[dict]) -> dict:
        """mmengine's interface: the metrics of a list of :meth:`process`
        entries (one process; :meth:`evaluate` gathers ranks first)."""
        return self._compute(_pack(list(results)))

    def _compute(self, data: dict) -> dict:
        scores = data['scores']
        num_classes = scores.shape[1]
        check_finite_scores(scores, [p or i for p, i in
                                     zip(data['img_paths'], data['img_ids'])])
        targets = SparseLabels(data['positives'], num_classes,
                               data['ignored'])
        classes = (self.dataset_meta or {}).get('classes', None)
        thr = resolve_thresholds(self.thr, classes, num_classes)
        metrics = multilabel_metrics(
            scores,
            targets,
            thr=thr,
            topk=self.topk,
            interpolated=self.interpolated)
        per_class = metrics.pop('AP_per_class')
        if np.isnan(metrics['mAP']):
            MMLogger.get_current_instance().warning(
                nothing_to_score(len(scores)) + ': mAP and recall are nan')
        if classes is None or len(classes) != num_classes:
            classes = [str(i) for i in range(num_classes)]
        if self.classwise:
            MMLogger.get_current_instance().info(
                '\n' + format_per_class_table(per_class, classes))
        if self.out_file:
            save_predictions(self.out_file, scores, targets.to_dense(),
                             classes, img_ids=data['img_ids'],
                             img_paths=data['img_paths'])
            MMLogger.get_current_instance().info(
                f'Per-image scores of {len(scores)} images saved to '
                f'{self.out_file}')
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
            # how many labels of each class were known (not ignored nor
            # unknown): the AP of a class rests on these alone
            # (only when some label is skipped)
            skipped = targets.ignored_per_class()
            if skipped.any():
                out.update({f'{KNOWN_PREFIX}{name}': int(len(scores) - k)
                            for name, k in zip(classes, skipped)})
        return out


PER_CLASS_PREFIX = 'AP/'
KNOWN_PREFIX = 'known/'


def format_per_class_table(per_class_ap, classes) -> str:
    """A text table: one row per class with its AP (percent, 1 decimal)."""
    width = max(len('class'), *(len(c) for c in classes))
    lines = [f'{"class":<{width}}  AP', '-' * (width + 8)]
    for name, ap in zip(classes, per_class_ap):
        value = '  n/a' if np.isnan(ap) else f'{ap:5.1f}'
        lines.append(f'{name:<{width}}  {value}')
    valid = per_class_ap[~np.isnan(per_class_ap)]
    lines.append('-' * (width + 8))
    lines.append(f'{"mAP":<{width}}  '
                 + (f'{valid.mean():5.1f}' if valid.size else '  n/a'))
    return '\n'.join(lines)
