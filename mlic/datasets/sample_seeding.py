"""One random stream per sample and epoch, whoever loads it.

Random augmentation (Cutout, RandAugment, flips) draws from the global
``random`` / ``numpy`` / ``torch`` generators of the process that runs the
pipeline. With mmengine's loaders those streams depend on how the data is
loaded: in the main process (``num_workers=0``) they continue across
epochs and are not saved in checkpoints; in worker processes they restart
from the same seed every epoch (``persistent_workers=False``) or continue
in a process a resumed run does not have (``persistent_workers=True``). A
run resumed from a checkpoint then sees other augmentations than the
uninterrupted run.

Here every sample of every epoch is transformed under its own seed,
derived from ``(run seed, epoch, sample index, repeat)``: the augmentation
of a sample is the same whether it is loaded in the main process or in any
worker, persistent or not, and whether the run was resumed or not; and it
differs between epochs. :class:`SeededIndexSampler` passes the seed along
with each index; :class:`SeededDataset` seeds the three generators before
the pipeline runs (and, in the main process, restores their previous state
afterwards, so the model's own random stream - dropout - is untouched).
"""
import random
from collections import Counter

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info


def sample_seed(base_seed: int, epoch: int, index: int, repeat: int) -> int:
    """A 32-bit seed from the four numbers (numpy's SeedSequence hashing)."""
    seq = np.random.SeedSequence(
        [int(base_seed) & 0xFFFFFFFF, int(epoch), int(index), int(repeat)])
    return int(seq.generate_state(1)[0])


class SeededIndexSampler:
    """Wraps a sampler: yields ``(index, seed)`` for :class:`SeededDataset`.

    The epoch is read from the wrapped sampler (mmengine's samplers keep it
    in ``epoch``; ``DistSamplerSeedHook`` sets it), so the wrapper needs no
    hook of its own. ``repeat`` counts how often an index came in this epoch
    (samplers that pad or repeat indices).
    """

    def __init__(self, sampler, base_seed: int):
        self.sampler = sampler
        self.base_seed = 0 if base_seed is None else int(base_seed)

    def __iter__(self):
        epoch = int(getattr(self.sampler, 'epoch', 0))
        seen = Counter()
        for index in self.sampler:
            index = int(index)
            yield index, sample_seed(self.base_seed, epoch, index,
                                     seen[index])
            seen[index] += 1

    def __len__(self):
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)


def _get_states():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_states(states):
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class SeededDataset(Dataset):
    """A dataset whose items are transformed under a per-item seed.

    Indexed with ``(index, seed)`` (from :class:`SeededIndexSampler`) or a
    plain index (then it is the wrapped dataset unchanged). Every other
    attribute (``metainfo``, ``pipeline``, ...) is the wrapped dataset's.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    @property
    def seeded_dataset(self):
        """The wrapped dataset (what the config built)."""
        return self.dataset

    def __repr__(self):
        return f'SeededDataset({self.dataset!r})'

    def __getattr__(self, name):
        if name == 'dataset':  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            return self.dataset[key]
        index, seed = key
        in_main_process = get_worker_info() is None
        saved = _get_states() if in_main_process else None
        seed_all(seed)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:
                _set_states(saved)


def seed_dataloader(loader, base_seed: int):
    """Make ``loader`` (built, not yet iterated) load seeded samples.

    Swaps the batch sampler's sampler for a :class:`SeededIndexSampler`;
    the loader's dataset must be a :class:`SeededDataset`. Returns the loader.
    """
    batch_sampler = getattr(loader, 'batch_sampler', None)
    if batch_sampler is None or not hasattr(batch_sampler, 'sampler'):
        return loader  # a custom batch sampler: left as it is
    if not isinstance(loader.dataset, SeededDataset):
        raise TypeError('seed_dataloader needs a SeededDataset')
    batch_sampler.sampler = SeededIndexSampler(batch_sampler.sampler,
                                               base_seed)
    return loader
