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
differs between epochs. It is switched on in the config, by the training
loader's sampler: ``sampler=dict(type='SeededSampler', shuffle=True)``
(mlic's dataset configs do this; ``DefaultSampler`` switches it off).
:class:`SeededSampler` (mmengine's ``DefaultSampler``: shuffling,
distributed shards, epochs) hands out the seed with each index; the Runner
then wraps the dataset in :class:`SeededDataset`, which seeds the three
generators before the pipeline runs (and, in the main process, restores
their previous state afterwards, so the model's own random stream -
dropout - is untouched).
"""
import random
from collections import Counter

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from torch.utils.data import Dataset, get_worker_info

from mlic.registry import DATA_SAMPLERS


def sample_seed(base_seed: int, epoch: int, index: int, repeat: int) -> int:
    """A 32-bit seed from the four numbers (numpy's SeedSequence hashing)."""
    seq = np.random.SeedSequence(
        [int(base_seed) & 0xFFFFFFFF, int(epoch), int(index), int(repeat)])
    return int(seq.generate_state(1)[0])


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` that yields ``(index, seed)``: the seed
    of that sample in this epoch (module docstring). Arguments as
    ``DefaultSampler`` (``shuffle``, ``seed`` - the run's, given by the
    Runner -, ``round_up``). ``repeat`` counts how often an index came in
    this epoch (the padding of distributed shards)."""

    def __iter__(self):
        epoch = int(self.epoch)
        seen = Counter()
        for index in super().__iter__():
            index = int(index)
            yield index, sample_seed(self.seed, epoch, index, seen[index])
            seen[index] += 1


def uses_seeded_sampler(loader_cfg) -> bool:
    """Whether a dataloader config's sampler is a :class:`SeededSampler`
    (then its dataset must be a :class:`SeededDataset`)."""
    sampler = loader_cfg.get('sampler') if hasattr(loader_cfg, 'get') \
        else None
    if isinstance(sampler, SeededSampler):
        return True
    if not isinstance(sampler, dict):
        return False
    kind = sampler.get('type')
    if isinstance(kind, str):
        kind = DATA_SAMPLERS.get(kind)
    return isinstance(kind, type) and issubclass(kind, SeededSampler)


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

    Indexed with ``(index, seed)`` (from :class:`SeededSampler`) or a
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
