"""Simulated missing labels on a fully labelled dataset
(docs/partial_labels.md).

:class:`HideLabels` wraps a dataset and makes some of each image's labels
*unknown* (``gt_label_unknown``): the loss then gives them what its mode
says and the metric skips them. Which labels are hidden depends only on
``(seed, image index, class)``: the same on every epoch, every process and
every worker, and in a resumed run.

Modes:

* ``'random'``: ``round(fraction * C)`` labels of every image, positives
  and negatives alike, chosen at random per image;
* ``'per_class'``: ``round(fraction * N)`` images of every class, chosen at
  random per class (each class loses the same share of its labels);
* ``'single_positive'``: one positive of each image stays (chosen at
  random), every other label becomes unknown (Cole et al., CVPR 2021); an
  image without a positive keeps no known label;
* ``'negatives'``: ``round(fraction * n)`` of each image's ``n`` negatives,
  chosen at random per image; every positive stays known
  (``fraction=1``: positives only, as tags and captions give them).
"""
from typing import Optional

import numpy as np

from mlic.registry import DATASETS
from mlic.structures.label_states import NEGATIVE_KEY, UNKNOWN_KEY, set_states

MODES = ('random', 'per_class', 'single_positive', 'negatives')
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return x ^ (x >> np.uint64(31))


def uniform(seed: int, rows, cols) -> np.ndarray:
    """A number in [0, 1) for every (row, col) pair (broadcast), fixed by
    ``(seed, row, col)`` alone (a SplitMix64 hash)."""
    with np.errstate(over='ignore'):
        rows = np.asarray(rows, dtype=np.uint64)
        cols = np.asarray(cols, dtype=np.uint64)
        h = _splitmix64(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF) ^
                        _splitmix64(rows))
        h = _splitmix64(h ^ _splitmix64(cols + np.uint64(1 << 40)))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def hidden_classes(mode: str, seed: int, index: int, positives,
                   num_classes: int, fraction: Optional[float] = None,
                   class_thresholds: Optional[np.ndarray] = None
                   ) -> np.ndarray:
    """Sorted indices of the classes of image ``index`` that are hidden."""
    u = uniform(seed, index, np.arange(num_classes))
    if mode == 'random':
        k = int(round(fraction * num_classes))
        return np.sort(np.argsort(u, kind='stable')[:k])
    if mode == 'per_class':
        return np.flatnonzero(u < class_thresholds)
    positives = np.asarray(positives, dtype=np.int64).reshape(-1)
    if mode == 'negatives':
        negative = np.ones(num_classes, dtype=bool)
        negative[positives] = False
        negatives = np.flatnonzero(negative)
        k = int(round(fraction * negatives.size))
        order = np.argsort(u[negatives], kind='stable')
        return np.sort(negatives[order[:k]])
    hidden = np.ones(num_classes, dtype=bool)
    if positives.size:
        hidden[positives[np.argmin(u[positives])]] = False
    return np.flatnonzero(hidden)


def per_class_thresholds(seed: int, num_images: int, num_classes: int,
                         fraction: float, chunk: int = 1 << 16) -> np.ndarray:
    """(C,) thresholds t_c with exactly ``round(fraction * N)`` images i of
    each class c below them: ``uniform(seed, i, c) < t_c``."""
    k = int(round(fraction * num_images))
    if k == 0:
        return np.zeros(num_classes)
    if k >= num_images:
        return np.full(num_classes, 2.0)
    out = np.empty(num_classes)
    rows = np.arange(num_images)
    step = max(1, chunk // num_images)  # classes per block of ~chunk draws
    for c0 in range(0, num_classes, step):
        cols = np.arange(c0, min(num_classes, c0 + step))
        u = uniform(seed, rows[:, None], cols[None, :])
        part = np.partition(u, k, axis=0)
        out[cols] = part[k]  # the (k+1)-th smallest: k values lie below
    return out


@DATASETS.register_module()
class HideLabels:
    """Hide labels of ``dataset`` reproducibly (module docstring).

    Args:
        dataset (dict | Dataset): the fully labelled training dataset.
        mode (str): ``'random'``, ``'per_class'``, ``'single_positive'`` or
            ``'negatives'``.
        fraction (float): share of the labels hidden (not for
            ``'single_positive'``).
        seed (int): which labels; the same seed hides the same labels.

    Every other attribute (``metainfo``, ``pipeline``...) is the wrapped
    dataset's. ``get_data_info(i)`` shows the labels as the model sees them.
    """

    def __init__(self, dataset, mode: str = 'random',
                 fraction: Optional[float] = None, seed: int = 0):
        if mode not in MODES:
            raise ValueError(f'HideLabels: mode={mode!r} must be one of '
                             f'{MODES}')
        if mode == 'single_positive':
            if fraction is not None:
                raise ValueError(
                    "HideLabels: mode='single_positive' keeps one positive "
                    f'per image and hides the rest; fraction={fraction} '
                    'would be ignored: remove it')
        elif fraction is None or not 0 <= fraction <= 1:
            raise ValueError(f'HideLabels: mode={mode!r} needs fraction in '
                             f'[0, 1] (the share hidden), got {fraction!r}')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self.mode = mode
        self.fraction = fraction
        self.seed = int(seed)
        self._thresholds = None

    # everything else is the wrapped dataset's
    def __getattr__(self, name):
        if name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self):
        return len(self.dataset)

    def __repr__(self):
        return (f'HideLabels(mode={self.mode!r}, fraction={self.fraction}, '
                f'seed={self.seed}, dataset={self.dataset!r})')

    @property
    def num_classes(self) -> int:
        return len(self.dataset.metainfo['classes'])

    def _class_thresholds(self):
        if self.mode == 'per_class' and self._thresholds is None:
            self._thresholds = per_class_thresholds(
                self.seed, len(self.dataset), self.num_classes,
                self.fraction)
        return self._thresholds

    def hidden(self, index: int, positives) -> np.ndarray:
        """The hidden classes of image ``index`` (sorted)."""
        return hidden_classes(self.mode, self.seed, index, positives,
                              self.num_classes, self.fraction,
                              self._class_thresholds())

    def _hide(self, index: int, labels: dict) -> dict:
        """New label fields of one image from its ``labels``."""
        positives = np.asarray(labels.get('gt_label', []),
                               dtype=np.int64).reshape(-1)
        hidden = self.hidden(index, positives)
        out = dict(gt_label=np.setdiff1d(positives, hidden))
        unknown = labels.get(UNKNOWN_KEY)
        unknown = np.zeros(0, np.int64) if unknown is None else np.asarray(
            unknown, dtype=np.int64).reshape(-1)
        out[UNKNOWN_KEY] = np.union1d(unknown, hidden)
        negatives = labels.get(NEGATIVE_KEY)
        if negatives is not None:
            out[NEGATIVE_KEY] = np.setdiff1d(
                np.asarray(negatives, dtype=np.int64).reshape(-1), hidden)
        return out

    def get_data_info(self, index: int) -> dict:
        info = dict(self.dataset.get_data_info(index))
        info.update(self._hide(index, info))
        return info

    def __getitem__(self, index):
        out = self.dataset[index]
        sample = out.get('data_samples') if isinstance(out, dict) else None
        if sample is None:  # an unpacked pipeline: a dict of fields
            out.update(self._hide(index, out))
            return out
        labels = {k: np.asarray(sample.get(k).cpu() if hasattr(
            sample.get(k), 'cpu') else sample.get(k))
                  for k in ('gt_label', UNKNOWN_KEY, NEGATIVE_KEY)
                  if sample.get(k, None) is not None}
        new = self._hide(index, labels)
        sample.set_gt_label(new.pop('gt_label').tolist())
        set_states(sample, new)
        return out


__all__ = ['HideLabels', 'MODES', 'hidden_classes',
           'per_class_thresholds', 'uniform']
