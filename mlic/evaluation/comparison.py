"""Two models on the same test images: the seven metrics of each, their
differences with a paired bootstrap interval over images, and the per-class
AP differences (``tools/analysis_tools/compare_predictions.py``).

Paired bootstrap: the same resample of images (drawn with replacement,
seeded) scores both models; the interval of a difference is the 2.5th and
97.5th percentile of (metric of A - metric of B) over the resamples. An
interval that excludes 0 says the difference is larger than what the
choice of test images alone moves it by.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .functional import multilabel_metrics
from .predictions import PredictionsFileError

METRICS = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


class NotComparableError(PredictionsFileError):
    """Two prediction files that are not over the same images, classes and
    labels."""


def check_comparable(a: dict, b: dict, names=('A', 'B')) -> None:
    """Refuse, naming the first difference, two loaded prediction files
    (:func:`~mlic.evaluation.load_predictions`) that do not score the same
    images with the same classes and ground truth."""
    na, nb = names
    ca, cb = list(a['classes']), list(b['classes'])
    if ca != cb:
        if sorted(ca) == sorted(cb):
            k = next(i for i, (x, y) in enumerate(zip(ca, cb)) if x != y)
            why = (f'the same classes in another order (column {k}: '
                   f'{ca[k]!r} vs {cb[k]!r}); test both with the same '
                   'dataset config')
        else:
            only_a = sorted(set(ca) - set(cb))[:3]
            only_b = sorted(set(cb) - set(ca))[:3]
            why = (f'{len(ca)} vs {len(cb)} classes (only in {na}: '
                   f'{only_a}, only in {nb}: {only_b})')
        raise NotComparableError(f'{na} and {nb} are not over the same '
                                 f'classes: {why}')
    sa, sb = a['scores'].shape[0], b['scores'].shape[0]
    if sa != sb:
        raise NotComparableError(
            f'{na} has {sa} images and {nb} {sb}: compare predictions of '
            'the same test split (tools/test.py CONFIG CKPT --out)')
    for key in ('img_ids', 'img_paths'):
        ia, ib = a.get(key) or [], b.get(key) or []
        if ia and ib and all(x is not None for x in ia[:1] + ib[:1]) \
                and ia != ib:
            k = next(i for i, (x, y) in enumerate(zip(ia, ib)) if x != y)
            raise NotComparableError(
                f'{na} and {nb} are not over the same images in the same '
                f'order: image {k} is {ia[k]!r} in {na} and {ib[k]!r} in '
                f'{nb}')
    ta, tb = np.asarray(a['targets']), np.asarray(b['targets'])
    if not np.array_equal(ta, tb):
        i, c = map(int, np.argwhere(ta != tb)[0])
        raise NotComparableError(
            f'{na} and {nb} have other ground truth: image {i}, class '
            f'{ca[c]!r}: {int(ta[i, c])} vs {int(tb[i, c])} (another '
            'annotation file or label setting)')


def compare(a: dict, b: dict, names=('A', 'B'), thr=0.5,
            bootstrap: int = 1000, seed: int = 0,
            level: float = 0.95) -> dict:
    """The comparison of two loaded prediction files over the same images.

    Returns ``metrics`` ({name: {metric: value}}), ``difference``
    ({metric: A - B}), ``interval`` ({metric: (low, high)} of A - B, or
    None without ``bootstrap``), ``per_class`` (rows of class, AP of A, AP
    of B, A - B, positives; sorted by the difference, largest first) and
    ``bootstrap`` / ``seed``. Metrics in percent."""
    check_comparable(a, b, names)
    targets = np.asarray(a['targets'])
    ma = multilabel_metrics(a['scores'], targets, thr=thr)
    mb = multilabel_metrics(b['scores'], targets, thr=thr)
    out = dict(metrics={names[0]: {k: float(ma[k]) for k in METRICS},
                        names[1]: {k: float(mb[k]) for k in METRICS}},
               difference={k: float(ma[k] - mb[k]) for k in METRICS},
               interval=None, bootstrap=bootstrap, seed=seed, level=level)
    if bootstrap:
        out['interval'] = paired_bootstrap(a['scores'], b['scores'],
                                           targets, thr, bootstrap, seed,
                                           level)
    ap_a, ap_b = ma['AP_per_class'] * 1.0, mb['AP_per_class'] * 1.0
    rows = [dict(cls=c, ap_a=float(x), ap_b=float(y), diff=float(x - y),
                 positives=int(p))
            for c, x, y, p in zip(a['classes'], ap_a, ap_b,
                                  (targets == 1).sum(axis=0))]
    known = [r for r in rows if not np.isnan(r['diff'])]
    known.sort(key=lambda r: -r['diff'])
    out['per_class'] = known + [r for r in rows if np.isnan(r['diff'])]
    return out


def paired_bootstrap(scores_a, scores_b, targets, thr, rounds: int,
                     seed: int, level: float = 0.95
                     ) -> Dict[str, Optional[tuple]]:
    """Percentile interval of (metric of A - metric of B) over ``rounds``
    resamples of the images, the same resample for both."""
    rng = np.random.default_rng(seed)
    n = scores_a.shape[0]
    diffs = {k: [] for k in METRICS}
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        ma = multilabel_metrics(scores_a[idx], targets[idx], thr=thr)
        mb = multilabel_metrics(scores_b[idx], targets[idx], thr=thr)
        for k in METRICS:
            diffs[k].append(ma[k] - mb[k])
    tail = (1 - level) / 2 * 100
    out = {}
    for k, values in diffs.items():
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        out[k] = (float(np.percentile(values, tail)),
                  float(np.percentile(values, 100 - tail))) \
            if values.size else None
    return out


def format_comparison(result: dict, names: Sequence[str]) -> str:
    """The printed table: each model's metrics, A - B and its interval."""
    na, nb = names
    pct = int(round(result['level'] * 100))
    head = (f'| metric | {na} | {nb} | {na} - {nb} | {pct}% interval '
            f'(paired bootstrap, {result["bootstrap"]} resamples) |')
    lines = [head, '|---|---|---|---|---|']
    for k in METRICS:
        iv = (result['interval'] or {}).get(k)
        text = '-' if iv is None else f'[{iv[0]:+.2f}, {iv[1]:+.2f}]'
        lines.append(f'| {k} | {result["metrics"][na][k]:.2f} | '
                     f'{result["metrics"][nb][k]:.2f} | '
                     f'{result["difference"][k]:+.2f} | {text} |')
    return '\n'.join(lines)


__all__ = ['compare', 'check_comparable', 'paired_bootstrap',
           'format_comparison', 'NotComparableError', 'METRICS']
