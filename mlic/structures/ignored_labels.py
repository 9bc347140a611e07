"""Ignored labels of a data sample (VOC's difficult-only classes).

One rule, used by the metric (target -1) and by the loss (weight 0): the
classes listed under ``gt_label_ignore`` or ``gt_label_difficult`` are
ignored, except those that are also positives of the sample.
"""
import numpy as np

IGNORE_KEYS = ('gt_label_ignore', 'gt_label_difficult')


def ignored_classes(sample, positive: np.ndarray) -> np.ndarray:
    """Indices of ``sample``'s ignored classes that are not positives.

    Args:
        sample: a data sample or its dict (anything with ``.get``).
        positive: (C,) bool mask of the sample's positive classes.
    """
    found = []
    for key in IGNORE_KEYS:
        ignored = sample.get(key, None)
        if ignored is not None and len(ignored):
            ignored = ignored.cpu() if hasattr(ignored, 'cpu') else ignored
            found.append(np.asarray(ignored, dtype=np.int64).reshape(-1))
    if not found:
        return np.zeros(0, dtype=np.int64)
    ignored = np.concatenate(found)
    return ignored[~positive[ignored]]
