"""mlic's OneCycleLR: its peak is the optimizer's lr, and every length of
run trains (the warm-up of exactly one step included)."""
import math

import pytest
import torch

from mlic.engine.schedulers import OneCycleLR


def _lrs(steps, pct_start=0.2, lr=1e-3, div=25.0, final=1e4):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = OneCycleLR(opt, begin=0, end=steps, by_epoch=False,
                       pct_start=pct_start, div_factor=div,
                       final_div_factor=final)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize('steps', range(1, 13))
@pytest.mark.parametrize('pct_start', [0.2, 0.25, 0.5, 0.1])
def test_every_short_run_has_a_finite_one_cycle(steps, pct_start):
    """1 to 12 iterations (5 at pct_start=0.2, 4 at 0.25, 2 at 0.5 and 10
    at 0.1 put the warm-up's end on step 0): no ZeroDivisionError, every lr
    between the cycle's floor and its peak, rising to one maximum and
    falling from it to the floor at the last step."""
    lr, div, final = 1e-3, 25.0, 1e4
    lrs = _lrs(steps, pct_start, lr, div, final)
    assert len(lrs) == steps and all(math.isfinite(x) for x in lrs)
    floor = lr / div / final
    assert all(floor * (1 - 1e-9) <= x <= lr * (1 + 1e-9) for x in lrs)
    assert lrs[-1] == pytest.approx(floor)
    top = lrs.index(max(lrs))
    assert lrs[:top + 1] == sorted(lrs[:top + 1])
    assert lrs[top:] == sorted(lrs[top:], reverse=True)
    if pct_start * steps >= 2:  # a warm-up of its own: it starts at peak/25
        assert lrs[0] == pytest.approx(lr / div)


def test_a_warm_up_ending_on_step_0_starts_at_the_peak_and_anneals():
    """5 steps at pct_start=0.2: the peak at step 0, then the cosine to the
    floor over the 4 steps left (what mmengine gives 4 steps at 0.2)."""
    peak, floor = 1e-3, 1e-3 / 25 / 1e4
    expect = [floor + (peak - floor) * (1 + math.cos(math.pi * k / 4)) / 2
              for k in range(5)]
    assert _lrs(5, 0.2) == pytest.approx(expect, rel=1e-5)
