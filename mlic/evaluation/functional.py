"""Multi-label metrics as plain functions (docs/method.md section 5).

Everything works on numpy arrays of shape (N, C): ``scores`` in [0, 1] (any
real scores work for AP) and ``targets`` in {1, 0, -1}, where -1 marks an
*ignored* entry (a VOC "difficult" label): it counts neither for AP nor for
the threshold metrics of its class.
"""
from typing import Dict, Optional

import numpy as np

METRIC_NAMES = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


def _as_2d(array, name):
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f'{name} must have shape (N, C), got {array.shape}')
    return array


def average_precision(scores, targets, interpolated: bool = False):
    """Per-class average precision; returns an array of C values in [0, 1].

    Non-interpolated AP (default): the mean, over the positives of a class,
    of the precision at the positive's rank when images are ranked by score.
    **Ties** are handled as scikit-learn's ``average_precision_score`` does:
    images with equal scores form one operating point, and every positive in
    the group gets the precision at the end of the group. The result is
    therefore independent of the order of tied images, and equals
    scikit-learn's value exactly, with or without ties.

    ``interpolated=True`` gives the all-point interpolated VOC AP (precision
    made monotonically non-increasing before integrating), which is what the
    Query2Label code reports (typically a little higher).

    A class without any positive gets ``nan`` (it is excluded from mAP).
    Entries with target -1 are ignored.
    """
    scores = _as_2d(scores, 'scores')
    targets = _as_2d(targets, 'targets')
    if scores.shape != targets.shape:
        raise ValueError(f'scores {scores.shape} and targets {targets.shape} '
                         'must have the same shape')
    num = scores.shape[0]
    if num == 0:
        return np.full(scores.shape[1], np.nan)
    # One row per class, contiguous: sorting and cumulative sums run along
    # memory. Tied scores form one group, so the sort need not be stable.
    s_rows = np.ascontiguousarray(scores.T)
    order = np.argsort(-s_rows, axis=1)
    s_sorted = np.take_along_axis(s_rows, order, axis=1)
    t_sorted = np.take_along_axis(np.ascontiguousarray(targets.T), order,
                                  axis=1)
    pos = t_sorted == 1
    tp = np.cumsum(pos, axis=1, dtype=np.int32)
    if (t_sorted < 0).any():  # ignored entries count as nothing
        seen = np.cumsum(t_sorted >= 0, axis=1, dtype=np.int32)
    else:
        seen = np.arange(1, num + 1, dtype=np.int32)[None, :]
    fp = seen - tp
    # The last row of each group of equal scores is an operating point.
    is_end = np.ones(pos.shape, dtype=bool)
    is_end[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]
    precision = tp / np.maximum(tp + fp, 1).astype(np.float64)
    if interpolated:
        # Envelope over operating points only: max precision at any lower
        # score threshold (further down the ranking).
        at_end = np.where(is_end, precision, 0.0)
        precision = np.maximum.accumulate(at_end[:, ::-1], axis=1)[:, ::-1]
    tp_at_end = np.where(is_end, tp, 0.0)
    tp_prev_end = np.zeros_like(tp)
    tp_prev_end[:, 1:] = np.maximum.accumulate(tp_at_end, axis=1)[:, :-1]
    gain = np.where(is_end, tp - tp_prev_end, 0.0)
    num_pos = pos.sum(axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        ap = (gain * precision).sum(axis=1) / num_pos
    ap[num_pos == 0] = np.nan
    return ap


def _prf(num_correct, num_pred, num_gt):
    """Per-class and overall precision/recall/F1 with 0 for 0/0."""

    def div(a, b):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    def f1(p, r):
        return float(div(2 * p * r, p + r))

    cp = float(div(num_correct, num_pred).mean())
    cr = float(div(num_correct, num_gt).mean())
    op = float(div(num_correct.sum(), num_pred.sum()))
    orr = float(div(num_correct.sum(), num_gt.sum()))
    return dict(CP=cp, CR=cr, CF1=f1(cp, cr), OP=op, OR=orr, OF1=f1(op, orr))


def threshold_counts(pred, targets):
    """Per-class counts (correct, predicted, ground truth) of positives.

    ``pred`` is a boolean (N, C) array of predicted positives; entries whose
    target is -1 are left out of all three counts.
    """
    valid = targets >= 0
    pred = pred & valid
    gt = targets == 1
    return ((pred & gt).sum(axis=0), pred.sum(axis=0), gt.sum(axis=0))


class NonFiniteScoresError(ValueError):
    """Scores with NaN or inf: no metric of them means anything."""


def check_finite_scores(scores, names=None):
    """Raise :class:`NonFiniteScoresError` if any score is NaN or inf.

    ``names`` (one per row, e.g. image paths) are used in the message.
    """
    scores = np.asarray(scores)
    finite = np.isfinite(scores)
    if finite.all():
        return
    rows, cols = np.nonzero(~finite)
    first = f'image {rows[0]}' if names is None else repr(names[rows[0]])
    raise NonFiniteScoresError(
        f'{int((~finite).sum())} of {scores.size} scores are NaN or inf '
        f'({len(set(rows.tolist()))} of {scores.shape[0]} images; first: '
        f'{first}, class {cols[0]}): the model produced non-finite outputs, '
        'so no metric is computed. The checkpoint probably holds NaN weights '
        '(training diverged): evaluate an earlier checkpoint.')


def multilabel_metrics(scores,
                       targets,
                       thr: float = 0.5,
                       topk: Optional[int] = None,
                       interpolated: bool = False,
                       percent: bool = True) -> Dict[str, object]:
    """mAP, CP, CR, CF1, OP, OR, OF1 of multi-label predictions.

    Args:
        scores: (N, C) scores (probabilities; AP accepts any real scores).
            numpy arrays or torch tensors.
        targets: (N, C) in {1, 0, -1}; -1 marks an ignored entry.
        thr: a class is predicted when its score is ``>= thr``; a number,
            or (C,) per-class thresholds.
        topk: if given, also the six threshold metrics with the ``topk``
            highest-scoring classes of every image as its predictions
            (no threshold; ties broken by class index), as keys ``CP_top3`` ...
        interpolated: all-point interpolated VOC AP instead of the
            non-interpolated AP (see :func:`average_precision`).
        percent: report in percent (default) instead of fractions.

    Returns:
        dict with ``mAP, CP, CR, CF1, OP, OR, OF1`` (floats), the same with a
        ``_top{k}`` suffix when ``topk`` is set, and ``AP_per_class`` (array
        of C floats, nan for classes without positives).

    Definitions (docs/method.md section 5): mAP is the mean AP over classes with at
    least one positive. CP = mean_c Nc/Np, CR = mean_c Nc/Ng,
    CF1 = 2 CP CR / (CP + CR) (from the averaged CP and CR, not a mean of
    per-class F1); OP, OR, OF1 pool the counts over classes. A ratio whose
    denominator is 0 counts as 0 (a class with no predicted positive has
    precision 0).
    """
    scores = _to_numpy(scores)
    targets = _to_numpy(targets)
    scores = _as_2d(scores, 'scores')
    targets = _as_2d(targets, 'targets').astype(np.int8)
    if scores.shape != targets.shape:
        raise ValueError(f'scores {scores.shape} and targets {targets.shape} '
                         'must have the same shape')
    check_finite_scores(scores)
    bad = (targets < -1) | (targets > 1)
    if bad.any():
        raise ValueError('targets must be 1, 0 or -1 (ignored); found '
                         f'{np.unique(targets[bad])[:5].tolist()}')
    if np.ndim(thr) != 0 and np.shape(thr) != (scores.shape[1], ):
        raise ValueError(f'thr has shape {np.shape(thr)}; expected a number '
                         f'or one threshold per class ({scores.shape[1]})')
    scale = 100.0 if percent else 1.0
    ap = average_precision(scores, targets, interpolated=interpolated)
    has_pos = ~np.isnan(ap)
    result = dict(mAP=float(ap[has_pos].mean()) * scale if has_pos.any()
                  else 0.0)
    counts = threshold_counts(scores >= thr, targets)
    result.update({k: v * scale for k, v in _prf(*counts).items()})
    if topk is not None:
        if not 1 <= topk <= scores.shape[1]:
            raise ValueError(f'topk={topk} must be in [1, {scores.shape[1]}]')
        top = np.argsort(-scores, axis=1, kind='stable')[:, :topk]
        pred = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(pred, top, True, axis=1)
        counts = threshold_counts(pred, targets)
        result.update({
            f'{k}_top{topk}': v * scale
            for k, v in _prf(*counts).items()
        })
    result['AP_per_class'] = ap * scale
    return result


def _to_numpy(x):
    if hasattr(x, 'detach'):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() \
            else x.detach().cpu().numpy()
    return np.asarray(x)
