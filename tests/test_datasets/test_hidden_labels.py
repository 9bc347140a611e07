"""HideLabels: reproducible hiding, exact shares, single positives, and the
hidden labels reaching the loss as unknown and the metric as skipped."""
import numpy as np
import pytest

from mlic.datasets.hidden_labels import (HideLabels, hidden_classes,
                                         per_class_thresholds, uniform)
from mlic.structures.label_states import label_states


class _Labels:
    """A dataset of N images with given positives (no pipeline)."""

    def __init__(self, positives, num_classes):
        self.positives = positives
        self.metainfo = dict(classes=[f'c{i}' for i in range(num_classes)])

    def __len__(self):
        return len(self.positives)

    def get_data_info(self, i):
        return dict(gt_label=list(self.positives[i]), img_path=f'{i}.jpg')

    def __getitem__(self, i):
        return self.get_data_info(i)


def _dataset(n=200, c=10, seed=0):
    rng = np.random.default_rng(seed)
    return _Labels([sorted(rng.choice(c, rng.integers(1, 4), replace=False))
                    for _ in range(n)], c)


def _states(wrapped, i):
    info = wrapped.get_data_info(i)
    positive = np.zeros(wrapped.num_classes, bool)
    positive[np.asarray(info['gt_label'], dtype=np.int64)] = True
    return label_states(info, positive)


def test_uniform_is_a_pure_function_of_seed_row_col():
    a = uniform(3, np.arange(5)[:, None], np.arange(4)[None, :])
    b = uniform(3, np.arange(5)[:, None], np.arange(4)[None, :])
    assert np.array_equal(a, b) and ((a >= 0) & (a < 1)).all()
    assert not np.array_equal(a, uniform(4, np.arange(5)[:, None],
                                         np.arange(4)[None, :]))
    # roughly uniform: mean and share below 0.3 over 100k draws
    u = uniform(0, np.arange(100000), 7)
    assert abs(u.mean() - 0.5) < 0.01 and abs((u < 0.3).mean() - 0.3) < 0.01


def test_random_hides_the_same_count_in_every_image():
    data = _dataset()
    hide = HideLabels(data, mode='random', fraction=0.5, seed=1)
    for i in range(len(data)):
        states = _states(hide, i)
        assert (states == -1).sum() == 5
        # what stays known is the truth
        truth = np.zeros(10, bool)
        truth[data.positives[i]] = True
        known = states >= 0
        assert np.array_equal(states[known] == 1, truth[known])
    # a new object (another process, epoch, worker) hides the same labels
    again = HideLabels(_dataset(), mode='random', fraction=0.5, seed=1)
    assert all(np.array_equal(_states(hide, i), _states(again, i))
               for i in range(len(data)))
    other = HideLabels(_dataset(), mode='random', fraction=0.5, seed=2)
    assert any(not np.array_equal(_states(hide, i), _states(other, i))
               for i in range(len(data)))


def test_per_class_hides_the_same_share_of_every_class():
    data = _dataset(n=200)
    hide = HideLabels(data, mode='per_class', fraction=0.3, seed=0)
    states = np.stack([_states(hide, i) for i in range(200)])
    assert ((states == -1).sum(0) == 60).all()


def test_per_class_thresholds_edges():
    assert (per_class_thresholds(0, 10, 3, 0.0) == 0).all()
    t = per_class_thresholds(0, 10, 3, 1.0)
    assert (uniform(0, np.arange(10)[:, None], np.arange(3)) < t).all()


def test_single_positive_keeps_exactly_one_true_positive():
    data = _dataset()
    hide = HideLabels(data, mode='single_positive', seed=0)
    kept = []
    for i in range(len(data)):
        states = _states(hide, i)
        assert (states == 1).sum() == 1 and (states == 0).sum() == 0
        (pos, ) = np.flatnonzero(states == 1)
        assert pos in data.positives[i]
        kept.append(pos)
    # the kept positive is chosen at random, not always the first listed
    first = [p[0] for p in data.positives]
    assert 0 < np.mean(np.array(kept) == np.array(first)) < 1


@pytest.mark.parametrize('fraction', [1.0, 0.5])
def test_negatives_mode_keeps_every_positive(fraction):
    data = _dataset()
    hide = HideLabels(data, mode='negatives', fraction=fraction, seed=0)
    hidden_first = []
    for i in range(len(data)):
        states = _states(hide, i)
        truth = np.zeros(10, bool)
        truth[data.positives[i]] = True
        # every positive known, the right count of negatives hidden
        assert np.array_equal(states == 1, truth)
        n_neg = 10 - truth.sum()
        assert (states == -1).sum() == round(fraction * n_neg)
        assert (states == 0).sum() == n_neg - round(fraction * n_neg)
        hidden_first.append(states[np.flatnonzero(~truth)[0]] == -1)
    if fraction < 1:  # which negatives: at random, not the first ones
        assert 0 < np.mean(hidden_first) < 1


def test_an_image_without_positives_keeps_nothing_known():
    assert hidden_classes('single_positive', 0, 5, [], 4).tolist() == \
        [0, 1, 2, 3]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match='fraction'):
        HideLabels(_dataset(), mode='random')
    with pytest.raises(ValueError, match='would be ignored'):
        HideLabels(_dataset(), mode='single_positive', fraction=0.5)
    with pytest.raises(ValueError, match="mode='some'"):
        HideLabels(_dataset(), mode='some', fraction=0.5)


def test_hidden_labels_reach_loss_and_metric(tmp_path):
    """Through the real pipeline (ShapesMultiLabel -> PackInputs): the data
    sample carries the hidden labels as unknown; the metric skips them."""
    import torch
    from mlic.datasets import ShapesMultiLabel
    from mlic.evaluation.metrics.multilabel import _sample_labels
    from mlic.models.heads.query_decoder_head import label_state_matrix
    from mmpretrain.datasets.transforms import PackInputs
    from mlic.datasets.transforms import LoadImageChecked
    pipeline = [LoadImageChecked(), PackInputs()]
    base = ShapesMultiLabel(split='train', image_size=32,
                            num_images=dict(train=8, val=4),
                            pipeline=pipeline)
    hide = HideLabels(base, mode='random', fraction=0.5, seed=0)
    samples = [hide[i]['data_samples'] for i in range(8)]
    states = label_state_matrix(samples, 12)
    for i, sample in enumerate(samples):
        full = set(np.asarray(base.get_data_info(i)['gt_label']).tolist())
        hidden = set(hide.hidden(i, sorted(full)).tolist())
        assert set(sample.gt_label.tolist()) == full - hidden
        assert set(np.flatnonzero(states[i].numpy() == -1)) == hidden
        positives, skipped = _sample_labels(sample.to_dict(), 12)
        assert set(skipped.tolist()) == hidden
    assert isinstance(states, torch.Tensor)
