"""RandomStateHook: checkpoints carry the generators' states and --resume
restores them just before training goes on (a fake runner, no training)."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from mlic.engine.hooks import RandomStateHook


def _draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_saved_state_is_restored_on_resume_only():
    hook = RandomStateHook()
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    checkpoint = {}
    hook.before_save_checkpoint(None, checkpoint)
    expected = _draws()  # what the uninterrupted run draws next
    _draws()  # the run goes on elsewhere: the generators move
    # a plain load_from (not resuming) restores nothing
    hook.after_load_checkpoint(SimpleNamespace(_resume=False), checkpoint)
    hook.before_train(None)
    assert _draws() != expected
    # --resume: restored at before_train, not at load time
    hook.after_load_checkpoint(SimpleNamespace(_resume=True), checkpoint)
    _draws()
    hook.before_train(None)
    assert _draws() == expected
    # once only
    hook.before_train(None)
    assert _draws() != expected


def test_the_state_is_plain_data_in_the_meta():
    checkpoint = {'meta': {'epoch': 2}}
    RandomStateHook().before_save_checkpoint(None, checkpoint)
    state = checkpoint['meta']['rng_state']
    assert checkpoint['meta']['epoch'] == 2
    assert set(state) >= {'python', 'numpy', 'torch'}
    assert isinstance(state['torch'], torch.Tensor)
    assert state['torch'].dtype == torch.uint8
