"""The state of each label of a data sample: positive, negative, unknown or
ignored (docs/partial_labels.md).

* positive: listed under ``gt_label``;
* ignored: listed under ``gt_label_ignore`` or ``gt_label_difficult``
  (VOC's difficult-only classes): out of the metric and weight 0 in the
  loss, whatever the loss;
* unknown: listed under ``gt_label_unknown``, or, when the sample carries
  ``gt_label_negative`` (the known negatives, even an empty list), every
  class neither positive nor listed there. Out of the metric; the loss
  gives unknowns what its ``mode`` says (:class:`PartialLabelLoss`), a
  plain loss ignores them;
* negative: every other class.

A positive stays positive whatever else lists it; an ignored class stays
ignored when also unknown.
"""
import numpy as np

IGNORE_KEYS = ('gt_label_ignore', 'gt_label_difficult')
UNKNOWN_KEY = 'gt_label_unknown'
NEGATIVE_KEY = 'gt_label_negative'
# every key a dataset or wrapper may carry besides gt_label
STATE_KEYS = IGNORE_KEYS + (UNKNOWN_KEY, NEGATIVE_KEY)

POSITIVE, NEGATIVE, UNKNOWN, IGNORED = 1, 0, -1, -2


def _indices(sample, key) -> np.ndarray:
    value = sample.get(key, None)
    if value is None or not len(value):
        return np.zeros(0, dtype=np.int64)
    value = value.cpu() if hasattr(value, 'cpu') else value
    return np.asarray(value, dtype=np.int64).reshape(-1)


def ignored_classes(sample, positive: np.ndarray) -> np.ndarray:
    """Indices of ``sample``'s ignored classes that are not positives.

    Args:
        sample: a data sample or its dict (anything with ``.get``).
        positive: (C,) bool mask of the sample's positive classes.
    """
    found = [_indices(sample, key) for key in IGNORE_KEYS]
    ignored = np.concatenate(found)
    return ignored[~positive[ignored]]


def label_states(sample, positive: np.ndarray) -> np.ndarray:
    """(C,) int8 states of ``sample``: POSITIVE, NEGATIVE, UNKNOWN, IGNORED.

    Args:
        sample: a data sample or its dict (anything with ``.get``).
        positive: (C,) bool mask of the sample's positive classes.
    """
    states = np.full(positive.shape, NEGATIVE, dtype=np.int8)
    if sample.get(NEGATIVE_KEY, None) is not None:
        states[:] = UNKNOWN
        states[_indices(sample, NEGATIVE_KEY)] = NEGATIVE
    states[_indices(sample, UNKNOWN_KEY)] = UNKNOWN
    states[ignored_classes(sample, positive)] = IGNORED
    states[positive] = POSITIVE
    return states


def has_unknowns(sample) -> bool:
    """Whether ``sample`` may have unknown labels (cheap: no mask built)."""
    return (sample.get(NEGATIVE_KEY, None) is not None
            or len(_indices(sample, UNKNOWN_KEY)) > 0)


def has_states(sample) -> bool:
    """Whether ``sample`` lists any unknown, ignored or known-negative label
    (cheap: no mask built); a sample without is plainly labelled."""
    return has_unknowns(sample) or any(
        len(_indices(sample, key)) for key in IGNORE_KEYS)


def unscored_classes(sample, positive: np.ndarray) -> np.ndarray:
    """Classes the metric skips (ignored or unknown, not positive)."""
    if not has_unknowns(sample):
        return ignored_classes(sample, positive)
    return np.flatnonzero(label_states(sample, positive) < 0)


def set_states(sample, fields: dict, overwrite: bool = True) -> None:
    """Put the label-state entries of ``fields`` (any of
    :data:`STATE_KEYS`) on a packed data sample, as lists. ``overwrite=
    False`` keeps a state the pipeline already packed. The one place the
    data side writes states (a dataset whatever ``PackInputs`` packs, a
    wrapper that hides labels)."""
    for key in STATE_KEYS:
        if key not in fields:
            continue
        if not overwrite and sample.get(key, None) is not None:
            continue
        value = fields[key]
        sample.set_field(value.tolist() if hasattr(value, 'tolist')
                         else list(value), key)
