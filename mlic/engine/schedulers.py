"""One-cycle learning rate whose peak is the optimizer's learning rate.

mmengine's ``OneCycleLR`` takes its peak from ``eta_max`` and ignores the
optimizer's ``lr``: ``--cfg-options optim_wrapper.optimizer.lr=...`` and
``--auto-scale-lr`` (which scales the optimizer's ``lr``) then change
nothing. Registered as ``OneCycleLR`` in mlic's scope, this one takes the
peak of each parameter group from that group's learning rate when the
scheduler is built (after ``--auto-scale-lr``), so the optimizer's ``lr`` is
the one source of truth. Giving ``eta_max`` as well is accepted only when it
equals that learning rate; otherwise it is an error (one of the two would
be ignored).

Leave ``end`` out of the config: the Runner then ends the cycle at
``train_cfg.max_epochs``, so ``--cfg-options train_cfg.max_epochs=N`` anneals
over N epochs.

Short runs: when ``pct_start`` x steps is exactly 1 (5 iterations at
``pct_start=0.2``), mmengine's warm-up ends at step 0 where it starts and
its interpolation divides by zero. Here ``pct_start`` is then lowered by
one part in a million: step 0 is the peak and the cycle anneals from there,
as mmengine's own formula gives for every run whose ``pct_start`` x steps
is below 1.
"""
import math

from mmengine.optim import OneCycleLR as MMEngineOneCycleLR
from mmengine.optim.scheduler.param_scheduler import INF
from mmengine.optim import OptimWrapper

from mlic.registry import PARAM_SCHEDULERS


def _groups(optimizer):
    if isinstance(optimizer, OptimWrapper):
        optimizer = optimizer.optimizer
    return optimizer.param_groups


@PARAM_SCHEDULERS.register_module(name='OneCycleLR')
class OneCycleLR(MMEngineOneCycleLR):
    """mmengine's ``OneCycleLR`` with ``eta_max`` = the optimizer's lr.

    Args:
        optimizer: the optimizer (wrapper).
        eta_max (float | list, optional): leave unset; if set it must equal
            each group's learning rate.
        **kwargs: ``pct_start``, ``div_factor``, ``final_div_factor``,
            ``anneal_strategy``, ``begin``, ``end``, ``total_steps``,
            ``by_epoch`` ... as mmengine's.
    """

    def __init__(self, optimizer, eta_max=None, **kwargs):
        lrs = [g.get('initial_lr', g['lr']) for g in _groups(optimizer)]
        if eta_max is not None:
            given = list(eta_max) if isinstance(eta_max, (list, tuple)) \
                else [eta_max] * len(lrs)
            if len(given) != len(lrs) or any(
                    not math.isclose(a, b, rel_tol=1e-9)
                    for a, b in zip(given, lrs)):
                raise ValueError(
                    f'OneCycleLR: eta_max={eta_max} but the optimizer\'s '
                    f'learning rate is {lrs if len(lrs) > 1 else lrs[0]}. In '
                    'mlic the peak of the cycle is the optimizer\'s lr '
                    '(optim_wrapper.optimizer.lr, scaled by --auto-scale-lr): '
                    'remove eta_max from param_scheduler and set the lr.')
        total = kwargs.get('total_steps') or (
            kwargs.get('end', INF) - kwargs.get('begin', 0))
        pct = kwargs.get('pct_start', 0.3)
        if isinstance(pct, float) and math.isfinite(total) and \
                abs(pct * total - 1) < 1e-9:
            kwargs['pct_start'] = pct * (1 - 1e-6)
        super().__init__(optimizer, eta_max=lrs, **kwargs)
