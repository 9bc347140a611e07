"""Multi-label metrics as plain functions (docs/method.md section 5).

Inputs: ``scores`` (N, C), probabilities in [0, 1] (AP accepts any real
scores), and ``targets``, one of

* a dense (N, C) array in {1, 0, -1} (any integer dtype), where -1 marks
  an *ignored* entry (a VOC "difficult" label): it counts neither for AP
  nor for the threshold metrics of its class;
* a dense boolean / uint8 (N, C) array of positives;
* :class:`SparseLabels`: the positive (and ignored) class indices of each
  image - what a dataset holds, C times smaller than a dense matrix when
  labels are few.

Memory and time (docs/large_scale.md): the metrics never copy the (N, C)
inputs whole; they walk blocks of classes (AP) and of images (thresholds,
top-k) of a few million entries each, so the memory above the inputs is a
few hundred MB whatever N x C is. Float32 scores (what models output) take
a fast path: per block one SIMD sort of packed 32-bit keys and one
vectorised search for the ranks of the positives; other dtypes are ranked
per class with the same arithmetic.
"""
from typing import Dict, Optional

import numpy as np

METRIC_NAMES = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')
# Entries (images x classes) one block of the metrics works on.
BLOCK_ENTRIES = 1 << 22


class Known:
    """A row of :class:`SparseLabels`' ``ignored`` given by what is known
    instead: the image's positives and ``indices`` count, every other class
    is skipped. An image with a few verified labels among thousands of
    classes (OpenImages) then costs its known labels, not a list of every
    unknown one."""
    __slots__ = ('indices', )

    def __init__(self, indices):
        self.indices = np.asarray(indices).astype(np.int32).reshape(-1)

    def __getstate__(self):
        return self.indices

    def __setstate__(self, state):
        self.indices = state

    def __repr__(self):
        return f'Known({self.indices.tolist()})'


class SparseLabels:
    """The targets of N images as class-index lists.

    Args:
        positives: N sequences of positive class indices (or ``(indptr,
            indices)`` of a CSR layout).
        num_classes: C.
        ignored: N sequences of ignored class indices (optional); an index
            that is also positive stays positive. A row may instead be a
            :class:`Known`: the classes that are known (besides the
            positives), every other one ignored.
    """

    def __init__(self, positives, num_classes: int, ignored=None):
        self.num_classes = int(num_classes)
        self.indptr, self.indices = _csr(positives)
        self.known_rows = np.zeros(0, np.int64)
        self.known_indptr = np.zeros(1, np.int64)
        self.known_indices = np.zeros(0, np.int64)
        self._ignored_by_class = self._known_cache = None
        if ignored is not None and not (isinstance(ignored, tuple)
                                        and len(ignored) == 2):
            at = [i for i, r in enumerate(ignored) if isinstance(r, Known)]
            if at:
                if len(ignored) != len(self.indptr) - 1:
                    raise ValueError(
                        f'{len(ignored)} rows of ignored labels for '
                        f'{len(self.indptr) - 1} images')
                self.known_rows = np.asarray(at, dtype=np.int64)
                self.known_indptr, self.known_indices = _csr(
                    [ignored[i].indices for i in at])
                ignored = [() if isinstance(r, Known) else r
                           for r in ignored]
        if ignored is not None:
            iptr, iidx = _csr(ignored)
            if len(iptr) != len(self.indptr):
                raise ValueError(f'{len(iptr) - 1} rows of ignored labels '
                                 f'for {len(self.indptr) - 1} images')
            rows = np.repeat(np.arange(len(iptr) - 1), np.diff(iptr))
            prow, pcol = self.positive_entries()
            keep = ~np.isin(rows * self.num_classes + iidx,
                            prow * self.num_classes + pcol)
            self.ignored_rows, self.ignored_cols = rows[keep], iidx[keep]
        else:
            self.ignored_rows = np.zeros(0, np.int64)
            self.ignored_cols = np.zeros(0, np.int64)
        for name, idx in (('positive', self.indices),
                          ('ignored', self.ignored_cols),
                          ('known', self.known_indices)):
            if idx.size and (idx.min() < 0 or idx.max() >= self.num_classes):
                raise ValueError(f'a {name} class index is out of range '
                                 f'[0, {self.num_classes})')

    @property
    def shape(self):
        return (len(self.indptr) - 1, self.num_classes)

    def positive_entries(self):
        """(image indices, class indices) of every positive."""
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        return rows, self.indices

    def ignored_entries(self, r0: int = 0, r1: Optional[int] = None,
                        c0: int = 0, c1: Optional[int] = None):
        """(image indices, class indices) of the ignored entries of images
        r0..r1 and classes c0..c1, from both row forms (a :class:`Known`
        row is expanded for this window only, so memory stays that of the
        window). Sorted by class when a class window is asked for."""
        n, c = self.shape
        r1 = n if r1 is None else r1
        c1 = c if c1 is None else c1
        by_class = (c0, c1) != (0, c)
        if by_class:
            if self._ignored_by_class is None:
                rows, cols = _by_class(self.ignored_rows, self.ignored_cols)
                self._ignored_by_class = (
                    rows, cols, np.searchsorted(cols, np.arange(c + 1)))
            rows, cols, at = self._ignored_by_class
            rows, cols = rows[at[c0]:at[c1]], cols[at[c0]:at[c1]]
            if (r0, r1) != (0, n):
                keep = (rows >= r0) & (rows < r1)
                rows, cols = rows[keep], cols[keep]
        else:  # listed row by row
            lo, hi = np.searchsorted(self.ignored_rows, [r0, r1])
            rows, cols = self.ignored_rows[lo:hi], self.ignored_cols[lo:hi]
        k0, k1 = np.searchsorted(self.known_rows, [r0, r1])
        if k0 == k1:
            return rows, cols
        kept = np.ones((k1 - k0, c1 - c0), dtype=bool)
        krow, kcol = self._known_entries()
        a, b = np.searchsorted(krow, [k0, k1])
        krow, kcol = krow[a:b], kcol[a:b]
        inside = (kcol >= c0) & (kcol < c1)
        kept[krow[inside] - k0, kcol[inside] - c0] = False
        if by_class:
            kc, kr = np.nonzero(kept.T)
        else:
            kr, kc = np.nonzero(kept)
        krows, kcols = self.known_rows[k0:k1][kr], kc + c0
        if not rows.size:
            return krows, kcols
        rows, cols = np.concatenate([rows, krows]), np.concatenate(
            [cols, kcols])
        order = np.argsort(cols if by_class else rows, kind='stable')
        return rows[order], cols[order]

    def _known_entries(self):
        """(position in ``known_rows``, class) of every entry the Known rows
        count - their listed classes and their positives - sorted by row
        then class; computed once."""
        if self._known_cache is None:
            c, m = self.num_classes, self.known_rows.size
            rows = np.repeat(np.arange(m), np.diff(self.known_indptr))
            prow, pcol = self.positive_entries()
            at = np.searchsorted(self.known_rows, prow)
            mine = (at < m) & (self.known_rows[np.minimum(at, m - 1)]
                               == prow) if m else np.zeros(0, bool)
            keys = np.unique(np.concatenate([
                rows * c + self.known_indices, at[mine] * c + pcol[mine]]))
            self._known_cache = (keys // c, keys % c)
        return self._known_cache

    def ignored_per_class(self) -> np.ndarray:
        """(C,) how many images each class skips (ignored or unknown)."""
        c = self.num_classes
        out = np.bincount(self.ignored_cols, minlength=c)
        if self.known_rows.size:
            # a Known row skips every class but its known ones and positives
            out = out + self.known_rows.size - np.bincount(
                self._known_entries()[1], minlength=c)
        return out

    @classmethod
    def from_dense(cls, targets, block: int = 1 << 14) -> 'SparseLabels':
        """From a dense (N, C) array ({1, 0, -1} or boolean), row block by
        row block (no full-size temporary)."""
        n, c = targets.shape
        pos_ptr, pos_idx, ign_rows, ign_cols = [0], [], [], []
        for start in range(0, n, block):
            chunk = np.asarray(targets[start:start + block])
            if chunk.dtype == bool:
                rows, cols = np.nonzero(chunk)
            else:
                bad = (chunk < -1) | (chunk > 1)
                if bad.any():
                    raise ValueError(
                        'targets must be 1, 0 or -1 (ignored); found '
                        f'{np.unique(chunk[bad])[:5].tolist()}')
                rows, cols = np.nonzero(chunk == 1)
                irows, icols = np.nonzero(chunk == -1)
                ign_rows.append(irows + start)
                ign_cols.append(icols)
            counts = np.bincount(rows, minlength=chunk.shape[0])
            pos_ptr.extend((np.cumsum(counts) + pos_ptr[-1]).tolist())
            pos_idx.append(cols)
        out = cls.__new__(cls)
        out.num_classes = c
        out.known_rows = np.zeros(0, np.int64)
        out.known_indptr = np.zeros(1, np.int64)
        out.known_indices = np.zeros(0, np.int64)
        out._ignored_by_class = out._known_cache = None
        out.indptr = np.asarray(pos_ptr, dtype=np.int64)
        out.indices = np.concatenate(pos_idx).astype(np.int64) if pos_idx \
            else np.zeros(0, np.int64)
        out.ignored_rows = np.concatenate(ign_rows).astype(np.int64) \
            if ign_rows else np.zeros(0, np.int64)
        out.ignored_cols = np.concatenate(ign_cols).astype(np.int64) \
            if ign_cols else np.zeros(0, np.int64)
        return out

    def to_dense(self) -> np.ndarray:
        """(N, C) int8 in {1, 0, -1} (for files and small sets)."""
        out = np.zeros(self.shape, dtype=np.int8)
        out[self.ignored_entries()] = -1
        rows, cols = self.positive_entries()
        out[rows, cols] = 1
        return out


def _csr(rows):
    if isinstance(rows, tuple) and len(rows) == 2:
        indptr = np.asarray(rows[0], dtype=np.int64)
        return indptr, np.asarray(rows[1], dtype=np.int64)
    lengths = [len(r) for r in rows]
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.concatenate([np.asarray(r, dtype=np.int64).reshape(-1)
                              for r in rows]) if indptr[-1] else \
        np.zeros(0, np.int64)
    return indptr, indices


def as_sparse_labels(targets, num_images: Optional[int] = None,
                     num_classes: Optional[int] = None) -> SparseLabels:
    """Any accepted target form (module docstring) as SparseLabels."""
    if isinstance(targets, SparseLabels):
        labels = targets
    else:
        targets = _to_numpy(targets)
        if targets.ndim == 1:
            targets = targets[:, None]
        if targets.ndim != 2:
            raise ValueError(f'targets must have shape (N, C), got '
                             f'{targets.shape}')
        labels = SparseLabels.from_dense(targets)
    if (num_images, num_classes) != (None, None) and labels.shape != (
            num_images, num_classes):
        raise ValueError(f'scores ({num_images}, {num_classes}) and targets '
                         f'{labels.shape} must have the same shape')
    return labels


# --------------------------------------------------------------------- AP
def _monotonic_u32(x: np.ndarray) -> np.ndarray:
    """uint32 keys that sort as the float32 values do (-0.0 == 0.0); 0 is
    below every score and free for ignored entries."""
    bits = (np.asarray(x, dtype=np.float32) + np.float32(0.0)).view(
        np.uint32)
    negative = (bits >> np.uint32(31)).astype(bool)
    return np.where(negative, ~bits, bits | np.uint32(0x80000000))


def _ap_from_groups(g_rows, counts, tp, seen, num_pos, n_rows,
                    interpolated):
    """AP of each row from its positive groups (one group = the positives
    of one distinct score, in decreasing score order within a row): ``tp``
    positives and ``seen`` valid images scored at least that score."""
    precision = tp / seen
    if interpolated and precision.size:
        # the envelope: max precision at this or any lower threshold, within
        # the row (offsets keep the running max from crossing rows)
        offset = 2.0 * (n_rows - g_rows)
        rev = (precision + offset)[::-1]
        precision = np.maximum.accumulate(rev)[::-1] - offset
    ap = np.bincount(g_rows, weights=counts * precision, minlength=n_rows)
    with np.errstate(invalid='ignore', divide='ignore'):
        ap = ap / num_pos
    ap[num_pos == 0] = np.nan
    return ap


def _ap_block(block: np.ndarray, pos_rows, pos_cols, ign_rows, ign_cols,
              interpolated: bool) -> np.ndarray:
    """AP of the b classes of ``block`` ((b, N) scores, one row a class);
    positives and ignored entries as (row, image) index pairs."""
    b, n = block.shape
    num_pos = np.bincount(pos_rows, minlength=b).astype(np.float64)
    if pos_rows.size == 0:
        return np.full(b, np.nan)
    fast = block.dtype in (np.float32, np.float16)
    if fast:
        keys = _monotonic_u32(block)
        pos_keys = keys[pos_rows, pos_cols]
    else:
        keys = np.asarray(block, dtype=np.float64) + 0.0
        pos_keys = keys[pos_rows, pos_cols]
    if ign_rows.size:
        keys[ign_rows, ign_cols] = 0 if fast else -np.inf
    keys.sort(axis=1)
    # positives by (class, decreasing score); equal scores form one group
    order = np.lexsort((-pos_keys.astype(np.float64) if not fast
                        else ~pos_keys, pos_rows))
    r, k = pos_rows[order], pos_keys[order]
    new = np.ones(r.size, dtype=bool)
    new[1:] = (r[1:] != r[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(new)
    g_rows, g_keys = r[starts], k[starts]
    counts = np.diff(np.append(starts, r.size)).astype(np.float64)
    cum = np.cumsum(counts)
    row_first = np.searchsorted(g_rows, np.arange(b), side='left')
    before = np.concatenate([[0.0], cum])[row_first]
    tp = cum - before[g_rows]
    # valid images scored >= the group's score, in its class's row
    if fast:
        flat = ((np.arange(b, dtype=np.uint64)[:, None] << np.uint64(32))
                | keys.astype(np.uint64)).ravel()
        where = (g_rows.astype(np.uint64) << np.uint64(32)) | \
            g_keys.astype(np.uint64)
        seen = (g_rows + 1) * n - np.searchsorted(flat, where, side='left')
    else:
        seen = np.empty(g_rows.size, dtype=np.int64)
        bounds = np.append(row_first, g_rows.size)
        for row in np.unique(g_rows):
            s, e = bounds[row], bounds[row + 1]
            seen[s:e] = n - np.searchsorted(keys[row], g_keys[s:e],
                                            side='left')
    return _ap_from_groups(g_rows, counts, tp, seen.astype(np.float64),
                           num_pos, b, interpolated)


def _column_blocks(num_images: int, num_classes: int):
    width = max(1, min(num_classes, BLOCK_ENTRIES // max(num_images, 1)))
    for start in range(0, num_classes, width):
        yield start, min(num_classes, start + width)


def _by_class(rows, cols):
    """Entries sorted by class, and where each class starts."""
    order = np.argsort(cols, kind='stable')
    return rows[order], cols[order]


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
    Entries with target -1 are ignored. ``targets`` may be any form of the
    module docstring.
    """
    scores = _as_2d(_to_numpy(scores), 'scores')
    n, c = scores.shape
    labels = as_sparse_labels(targets, n, c)
    if n == 0:
        return np.full(c, np.nan)
    pos_img, pos_cls = _by_class(*labels.positive_entries())
    pos_at = np.searchsorted(pos_cls, np.arange(c + 1))
    if scores.dtype not in (np.float32, np.float16, np.float64):
        scores = scores.astype(np.float64)
    ap = np.empty(c)
    for c0, c1 in _column_blocks(n, c):
        block = np.ascontiguousarray(scores[:, c0:c1].T)
        p0, p1 = pos_at[c0], pos_at[c1]
        ign_img, ign_cls = labels.ignored_entries(c0=c0, c1=c1)
        ap[c0:c1] = _ap_block(block, pos_cls[p0:p1] - c0, pos_img[p0:p1],
                              ign_cls - c0, ign_img, interpolated)
    return ap


# -------------------------------------------------------- threshold metrics
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


def _row_blocks(num_images: int, num_classes: int):
    height = max(1, BLOCK_ENTRIES // max(num_classes, 1))
    for start in range(0, num_images, height):
        yield start, min(num_images, start + height)


def threshold_counts(pred, targets):
    """Per-class counts (correct, predicted, ground truth) of positives.

    ``pred`` is a boolean (N, C) array of predicted positives; entries whose
    target is -1 are left out of all three counts.
    """
    labels = as_sparse_labels(targets, *np.shape(pred))
    return _counts(lambda r0, r1: np.asarray(pred[r0:r1], dtype=bool),
                   labels)


def _counts(predicted_rows, labels: SparseLabels):
    """(correct, predicted, ground truth) per class; ``predicted_rows(r0,
    r1)`` gives the boolean predictions of images r0..r1."""
    n, c = labels.shape
    pos_img, pos_cls = labels.positive_entries()
    num_pred = np.zeros(c, dtype=np.int64)
    num_correct = np.zeros(c, dtype=np.int64)
    for r0, r1 in _row_blocks(n, c):
        pred = predicted_rows(r0, r1)
        num_pred += pred.sum(axis=0)
        lo, hi = labels.indptr[r0], labels.indptr[r1]
        hit = pred[pos_img[lo:hi] - r0, pos_cls[lo:hi]]
        num_correct += np.bincount(pos_cls[lo:hi][hit], minlength=c)
        ir, ic = labels.ignored_entries(r0, r1)
        if ir.size:
            num_pred -= np.bincount(ic[pred[ir - r0, ic]], minlength=c)
    num_gt = np.bincount(pos_cls, minlength=c)
    return num_correct, num_pred, num_gt


def _topk_rows(scores, k):
    """Boolean predictions of the k highest scores of each row; ties broken
    by class index (the lower index wins), without sorting whole rows."""
    def rows(r0, r1):
        block = np.asarray(scores[r0:r1])
        c = block.shape[1]
        if k == c:
            return np.ones(block.shape, dtype=bool)
        kth = -np.partition(-block, k - 1, axis=1)[:, k - 1:k]
        above = block > kth
        ties = block == kth
        need = k - above.sum(axis=1, keepdims=True)
        return above | (ties & (np.cumsum(ties, axis=1) <= need))
    return rows


class NonFiniteScoresError(ValueError):
    """Scores with NaN or inf: no metric of them means anything."""


def check_finite_scores(scores, names=None, classes=None):
    """Raise :class:`NonFiniteScoresError` if any score is NaN or inf.

    ``names`` (one per row, e.g. image paths) and ``classes`` (one per
    column) are used in the message. Checked block by block of rows.
    """
    scores = np.asarray(scores)
    if scores.ndim < 2:
        scores = scores.reshape(-1, 1)
    bad_rows, bad_cols, total = [], [], 0
    for r0, r1 in _row_blocks(scores.shape[0], scores.shape[1]):
        finite = np.isfinite(scores[r0:r1])
        if finite.all():
            continue
        rows, cols = np.nonzero(~finite)
        bad_rows.append(rows + r0)
        bad_cols.append(cols)
        total += rows.size
    if not total:
        return
    rows, cols = np.concatenate(bad_rows), np.concatenate(bad_cols)
    first = f'image {rows[0]}' if names is None else repr(names[rows[0]])
    column = cols[0] if classes is None else repr(classes[cols[0]])
    raise NonFiniteScoresError(
        f'{total} of {scores.size} scores are NaN or inf '
        f'({len(set(rows.tolist()))} of {scores.shape[0]} images; first: '
        f'{first}, class {column}): the model produced non-finite outputs, '
        'so no metric is computed. The checkpoint probably holds NaN weights '
        '(training diverged): evaluate an earlier checkpoint.')


class NothingToScoreError(ValueError):
    """No image has a known positive label: no AP, recall or threshold can
    be computed from these labels."""


def nothing_to_score(num_images: int) -> str:
    """The one sentence every tool says when no class has a positive."""
    if num_images == 0:
        return 'nothing to score: there are no images'
    return (f'nothing to score: none of the {num_images} images has a known '
            'positive label (every label is negative or ignored), so AP, '
            'recall and F1 are undefined; score a split with positives')


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
        targets: (N, C) in {1, 0, -1} (-1 marks an ignored entry), a
            boolean / uint8 array of positives, or :class:`SparseLabels`.
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
        of C floats, nan for classes without positives). When no class has
        a positive (no images, all negative or ignored), mAP and the
        recall-based metrics (CR, CF1, OR, OF1) are nan, not 0
        (:func:`nothing_to_score` says why).

    Definitions (docs/method.md section 5): mAP is the mean AP over classes with at
    least one positive. CP = mean_c Nc/Np, CR = mean_c Nc/Ng,
    CF1 = 2 CP CR / (CP + CR) (from the averaged CP and CR, not a mean of
    per-class F1); OP, OR, OF1 pool the counts over classes. A ratio whose
    denominator is 0 counts as 0 (a class with no predicted positive has
    precision 0).
    """
    scores = _as_2d(_to_numpy(scores), 'scores')
    labels = as_sparse_labels(targets, *scores.shape)
    check_finite_scores(scores)
    if np.ndim(thr) != 0 and np.shape(thr) != (scores.shape[1], ):
        raise ValueError(f'thr has shape {np.shape(thr)}; expected a number '
                         f'or one threshold per class ({scores.shape[1]})')
    scale = 100.0 if percent else 1.0
    ap = average_precision(scores, labels, interpolated=interpolated)
    has_pos = ~np.isnan(ap)
    result = dict(mAP=float(ap[has_pos].mean()) * scale if has_pos.any()
                  else float('nan'))
    undefined = () if has_pos.any() else ('CR', 'CF1', 'OR', 'OF1')

    def scaled(counts, suffix=''):
        return {k + suffix: float('nan') if k in undefined else v * scale
                for k, v in _prf(*counts).items()}

    thr_row = np.asarray(thr, dtype=np.float64)
    result.update(scaled(_counts(lambda r0, r1: scores[r0:r1] >= thr_row,
                                 labels)))
    if topk is not None:
        if not 1 <= topk <= scores.shape[1]:
            raise ValueError(f'topk={topk} must be in [1, {scores.shape[1]}]')
        result.update(scaled(_counts(_topk_rows(scores, topk), labels),
                             f'_top{topk}'))
    result['AP_per_class'] = ap * scale
    return result


def _as_2d(array, name):
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f'{name} must have shape (N, C), got {array.shape}')
    return array


def _to_numpy(x):
    if hasattr(x, 'detach'):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() \
            else x.detach().cpu().numpy()
    return np.asarray(x)


__all__ = ['METRIC_NAMES', 'Known', 'SparseLabels', 'average_precision',
           'multilabel_metrics', 'threshold_counts', 'check_finite_scores',
           'NonFiniteScoresError', 'as_sparse_labels']
