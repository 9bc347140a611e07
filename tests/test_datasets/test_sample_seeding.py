"""SeededSampler and SeededDataset: each sample is transformed under a
seed of its own - the same for the same (run seed, epoch, index, repeat),
whatever process draws it - and the caller's generators are left alone."""
import random

import numpy as np
import torch

from mlic.datasets.sample_seeding import (SeededDataset, SeededSampler,
                                          sample_seed, uses_seeded_sampler)


class _Random:
    """A dataset whose items are draws of the three generators."""

    def __len__(self):
        return 5

    def __getitem__(self, index):
        return (index, random.random(), float(np.random.rand()),
                float(torch.rand(1)))


def test_seeds_depend_on_all_four_numbers_only():
    base = sample_seed(0, 1, 2, 0)
    assert base == sample_seed(0, 1, 2, 0)
    others = {sample_seed(1, 1, 2, 0), sample_seed(0, 2, 2, 0),
              sample_seed(0, 1, 3, 0), sample_seed(0, 1, 2, 1)}
    assert base not in others and len(others) == 4
    assert 0 <= base < 2**32


def test_the_sampler_yields_each_index_with_its_seed():
    sampler = SeededSampler(_Random(), shuffle=True, seed=7)
    sampler.set_epoch(3)
    pairs = list(sampler)
    assert sorted(i for i, _ in pairs) == list(range(5))
    assert all(s == sample_seed(7, 3, i, 0) for i, s in pairs)
    assert list(sampler) == pairs  # the same epoch, the same seeds


def test_the_dataset_draws_under_the_seed_and_restores_the_generators():
    ds = SeededDataset(_Random())
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    expected_next = (random.random(), float(np.random.rand()),
                     float(torch.rand(1)))
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    first = ds[(2, 1234)]
    assert ds[(2, 1234)] == first != ds[(2, 1235)]
    # the main process's generators are where they were
    assert (random.random(), float(np.random.rand()),
            float(torch.rand(1))) == expected_next
    assert ds[2][0] == 2 and len(ds) == 5


def test_configs_that_use_it_are_recognised():
    assert uses_seeded_sampler(dict(sampler=dict(type='SeededSampler')))
    assert not uses_seeded_sampler(dict(sampler=dict(type='DefaultSampler')))
    assert not uses_seeded_sampler(dict())
