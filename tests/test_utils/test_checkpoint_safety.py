"""mmengine checkpoints load with weights_only=True; nothing else does."""
import io
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.optim import OneCycleLR

from mlic.engine import allow_mmengine_checkpoints
from mlic.fileio.checkpoint_allowlist import checkpoint_getattr

allow_mmengine_checkpoints()  # what every mlic load does first


def _mmengine_like_checkpoint():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = OneCycleLR(opt, eta_max=1e-3, total_steps=10)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    hub = MessageHub.get_instance('mlic_test_ckpt')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', np.float32(0.25))
    hub.update_info('best_score', np.float64(91.5))
    return dict(
        meta=dict(epoch=1, iter=10, best=np.float64(1.5),
                  arr=np.arange(4, dtype=np.int64),
                  dataset_meta=dict(classes=('a', 'b'))),
        state_dict=model.state_dict(),
        optimizer=opt.state_dict(),
        param_schedulers=[sched.state_dict()],
        message_hub=hub.state_dict(),
        ema_state_dict={'steps': torch.tensor(3)})


def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    ckpt = _mmengine_like_checkpoint()
    path = tmp_path / 'a.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['meta']['best'] == 1.5
    np.testing.assert_array_equal(loaded['meta']['arr'], np.arange(4))
    assert loaded['param_schedulers'][0]['total_steps'] == 10
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.current() == 0.25
    assert torch.equal(loaded['state_dict']['weight'],
                       ckpt['state_dict']['weight'])


def test_numpy1_checkpoint_names_load(tmp_path):
    """numpy 1.x wrote numpy.core.multiarray; the allow-list maps it."""
    buf = io.BytesIO()
    torch.save(dict(x=np.float64(2.5), a=np.ones(3)), buf,
               _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    assert b'numpy._core.multiarray' in data
    data = data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
    loaded = torch.load(io.BytesIO(data), weights_only=True)
    assert loaded['x'] == 2.5
    np.testing.assert_array_equal(loaded['a'], np.ones(3))


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_code_in_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(x=_Evil()), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_restricted_getattr():
    assert checkpoint_getattr(HistoryBuffer, 'min') is HistoryBuffer.min
    with pytest.raises(pickle.UnpicklingError):
        checkpoint_getattr(os, 'system')
    with pytest.raises(pickle.UnpicklingError):
        checkpoint_getattr(HistoryBuffer, '__init__')  # not to be reached
    with pytest.raises(pickle.UnpicklingError):
        checkpoint_getattr(HistoryBuffer, '__class__')
