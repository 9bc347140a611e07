"""The random-number states of the main process travel with checkpoints.

Dropout and every other random draw of the model come from the global
``random`` / ``numpy`` / ``torch`` (and CUDA) generators of the training
process. Each checkpoint carries their state (``meta['rng_state']``, plain
data that loads weights-only) and ``--resume`` restores it just before
training continues, so a resumed run draws what the uninterrupted run
would have (the augmentation's own seeds are per sample:
:mod:`mlic.datasets.sample_seeding`).
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from mlic.registry import HOOKS
from mlic.upstream.private import runner_is_resuming


def capture_rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and \
            len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the generators' states in every checkpoint; restore them on
    ``--resume`` (module docstring). In ``default_hooks`` of every config
    (``default_hooks.random_state``)."""

    priority = 'VERY_LOW'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['rng_state'] = capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner_is_resuming(runner) and isinstance(checkpoint, dict):
            self._pending = (checkpoint.get('meta') or {}).get('rng_state')

    def before_train(self, runner) -> None:
        # after the whole resume (optimizer, schedulers, EMA), just before
        # the first training iteration
        if self._pending is not None:
            restore_rng_state(self._pending)
            self._pending = None
