"""ScheduleCheckHook: --resume stops when the schedule the config builds
is not the checkpoint's, naming what differs (fake runners, real
schedulers)."""
from types import SimpleNamespace

import pytest
import torch

from mlic.engine.hooks import ScheduleCheckHook, ScheduleMismatchError
from mlic.engine.hooks.schedule_check_hook import schedule_differences
from mlic.engine.schedulers import OneCycleLR


def _schedulers(steps, lr=1e-3):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    return [OneCycleLR(opt, begin=0, end=steps, by_epoch=False,
                       pct_start=0.2)]


def _checkpoint(steps, lr=1e-3, progress=0):
    schedulers = _schedulers(steps, lr)
    for _ in range(progress):
        schedulers[0].optimizer.step()
        schedulers[0].step()
    return dict(param_schedulers=[s.state_dict() for s in schedulers])


def _runner(steps, lr=1e-3, resuming=True):
    return SimpleNamespace(_resume=resuming,
                           param_schedulers=_schedulers(steps, lr))


def test_the_same_schedule_resumes_whatever_its_progress():
    ScheduleCheckHook().after_load_checkpoint(_runner(86),
                                              _checkpoint(86, progress=40))


@pytest.mark.parametrize('steps, lr, message', [
    (172, 1e-3, r'OneCycleLR.total_steps: checkpoint 86, now 172'),
    (86, 2e-3, r'OneCycleLR.eta_max: checkpoint \[0.001\], now \[0.002\]'),
])
def test_another_length_or_peak_is_refused(steps, lr, message):
    with pytest.raises(ScheduleMismatchError, match=message):
        ScheduleCheckHook().after_load_checkpoint(_runner(steps, lr),
                                                  _checkpoint(86))


def test_only_a_resume_is_checked():
    ScheduleCheckHook().after_load_checkpoint(
        _runner(172, resuming=False), _checkpoint(86))


def test_differences_leave_progress_out():
    assert schedule_differences(_schedulers(10),
                                _checkpoint(10, progress=5)
                                ['param_schedulers']) == []
    diffs = schedule_differences(_schedulers(10), [])
    assert diffs == [('param_scheduler', 'number of schedulers', 0, 1)]
