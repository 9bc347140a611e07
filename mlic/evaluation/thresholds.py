"""Per-class decision thresholds: reading them and calibrating them.

A class is predicted when its score is ``>= threshold``. One global 0.5
suits frequent, well-calibrated classes; rare classes usually want less.
:func:`calibrate_thresholds` picks, for every class, the threshold that
maximises that class's F1 on a labelled set (validation scores from
``tools/test.py --out``):

* candidates are the class's own scores (the threshold is a score, so the
  image with that score is predicted positive); F1 = 2 TP / (PP + P);
* ties in F1 go to the **highest** threshold (fewest positive predictions);
* a class without positives in the set (no F1 to maximise) keeps the
  default threshold, and is listed in ``no_positives``;
* a class with fewer than ``min_positives`` positives keeps the default
  too (listed in ``too_few``): a threshold fitted to two or three images
  is mostly noise - on 60 validation images the demo's calibrated 0.97
  dropped a true label at 0.94 on a new photo;
* ``prior`` (optional) shrinks each fitted threshold toward the default
  as a pseudo-count: ``(n t + prior * default) / (n + prior)`` for a class
  with n positives, so rare classes move less than frequent ones;
* ignored entries (target -1) take no part.

Threshold files are JSON: ``{"thresholds": {"cat": 0.31, ...}, ...}`` as
``tools/analysis_tools/calibrate_thresholds.py`` writes them, or a plain
``{"cat": 0.31, ...}``. Every class of the model must be in the file.
"""
import json
import os.path as osp
from typing import Dict, Optional, Sequence, Union

import numpy as np

from .functional import NothingToScoreError, nothing_to_score


class ThresholdError(ValueError):
    """Thresholds that do not match the classes or are out of [0, 1]."""


def read_threshold_file(path: str) -> Dict[str, float]:
    """``{class name: threshold}`` from a JSON file (both layouts)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'threshold file not found: {path}')
    with open(path, encoding='utf-8-sig') as f:
        try:
            data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ThresholdError(f'{path} is not JSON: {err}') from None
    if isinstance(data, dict) and isinstance(data.get('thresholds'), dict):
        data = data['thresholds']
    if not isinstance(data, dict) or not data:
        raise ThresholdError(f'{path}: expected {{"thresholds": {{class: '
                             'threshold, ...}}}} or {class: threshold, ...}')
    out = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0.0 <= float(value) <= 1.0:
            raise ThresholdError(
                f'{path}: the threshold of class {name!r} is {value!r}; '
                'every threshold must be a number in [0, 1]')
        out[str(name)] = float(value)
    return out


def resolve_thresholds(thr: Union[float, Sequence[float], str, dict],
                       classes: Optional[Sequence[str]],
                       num_classes: int) -> Union[float, np.ndarray]:
    """A float, or a (C,) array in class order, from any accepted form.

    ``thr``: a number (one threshold for all), a list of C numbers in class
    order, a ``{class name: threshold}`` dict, or a JSON file path.
    """
    where = 'thresholds'
    if isinstance(thr, str):
        where, thr = thr, read_threshold_file(thr)
    if isinstance(thr, dict):
        if classes is None or len(classes) != num_classes:
            raise ThresholdError(
                f'{where}: per-class thresholds by name need the class '
                'names of the dataset')
        missing = [c for c in classes if c not in thr]
        extra = [k for k in thr if k not in set(classes)]
        if missing or extra:
            raise ThresholdError(
                f'{where} does not match the classes: missing '
                f'{missing[:5]}{" ..." if len(missing) > 5 else ""}, unknown '
                f'{extra[:5]}{" ..." if len(extra) > 5 else ""}')
        thr = [thr[c] for c in classes]
    if np.ndim(thr) == 0:
        value = float(thr)
        if not 0.0 <= value <= 1.0:
            raise ThresholdError(f'threshold {value} must be in [0, 1]')
        return value
    arr = np.asarray(thr, dtype=np.float64).reshape(-1)
    if arr.shape[0] != num_classes:
        raise ThresholdError(f'{where}: {arr.shape[0]} thresholds for '
                             f'{num_classes} classes')
    bad = ~((arr >= 0.0) & (arr <= 1.0))
    if bad.any():
        raise ThresholdError(f'{where}: thresholds must be in [0, 1]; got '
                             f'{arr[bad][:5].tolist()}')
    return arr


def _best_f1_threshold(scores, targets, default):
    """(threshold, f1) for one class; ties -> the highest threshold."""
    valid = targets >= 0
    s, y = scores[valid], targets[valid] == 1
    positives = int(y.sum())
    if positives == 0:
        return default, None
    order = np.argsort(-s, kind='stable')
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    predicted = np.arange(1, len(s) + 1)
    # only the last position of a run of equal scores is a real cut
    last = np.r_[s[1:] != s[:-1], True]
    f1 = 2.0 * tp / (predicted + positives)
    f1 = np.where(last, f1, -1.0)
    best = int(np.argmax(f1))  # first maximum = highest threshold
    return float(s[best]), float(f1[best])


def calibrate_thresholds(scores, targets, default: float = 0.5,
                         criterion: str = 'f1', min_positives: int = 1,
                         prior: float = 0.0) -> dict:
    """Per-class F1-optimal thresholds (see the module docstring).

    Returns ``dict(thresholds=(C,) array, f1=(C,) array (nan where the
    default was kept), no_positives=[class indices], too_few=[class
    indices with 1 .. min_positives - 1 positives], positives=(C,))``.
    """
    if criterion != 'f1':
        raise ValueError(f"criterion={criterion!r}: only 'f1' is offered")
    if min_positives < 1 or prior < 0:
        raise ValueError(f'min_positives={min_positives} must be >= 1 and '
                         f'prior={prior} >= 0')
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f'scores {scores.shape} and targets '
                         f'{targets.shape} must be the same (N, C) shape')
    thr = np.full(scores.shape[1], float(default))
    f1 = np.full(scores.shape[1], np.nan)
    positives = (targets == 1).sum(axis=0)
    if not positives.any():
        raise NothingToScoreError(nothing_to_score(scores.shape[0])
                                  .replace('to score', 'to calibrate'))
    none, too_few = [], []
    for c in range(scores.shape[1]):
        if positives[c] == 0:
            none.append(c)
            continue
        if positives[c] < min_positives:
            too_few.append(c)
            continue
        t, value = _best_f1_threshold(scores[:, c], targets[:, c], default)
        n = float(positives[c])
        thr[c] = t if prior == 0 else (n * t + prior * default) / (n + prior)
        f1[c] = value
    return dict(thresholds=thr, f1=f1, no_positives=none, too_few=too_few,
                positives=positives)
