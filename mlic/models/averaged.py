"""Weight averaging: the exponential moving average of a model, updated
with one multi-tensor operation per step instead of one per tensor."""
from collections import defaultdict

import torch.nn as nn
from mmengine.model import ExponentialMovingAverage
from torch.optim.swa_utils import get_ema_multi_avg_fn

from mlic.registry import MODELS


@MODELS.register_module()
class MultiTensorEMA(ExponentialMovingAverage):
    """mmengine's ``ExponentialMovingAverage`` (``avg = avg + m * (cur -
    avg)``, the first update copies), with each update one ``foreach`` lerp
    per (device, dtype) group: the same values (checked bit for bit in
    tests/test_models/test_speed_paths.py), a few kernel launches per step
    instead of one per tensor (a fixed per-step cost on GPUs).

    Arguments as mmengine's ``ExponentialMovingAverage``.
    """

    def update_parameters(self, model: nn.Module) -> None:
        if self.steps == 0 or self.steps % self.interval:
            super().update_parameters(model)  # the copy, or no update
            return
        source = model.state_dict() if self.update_buffers else dict(
            model.named_parameters())
        groups = defaultdict(lambda: ([], []))
        for name, averaged in self.avg_parameters.items():
            if averaged.dtype.is_floating_point:
                group = groups[(averaged.device, averaged.dtype)]
                group[0].append(averaged.data)
                group[1].append(source[name].data.to(averaged.device))
        # get_ema_multi_avg_fn(decay) lerps by 1 - decay = momentum.
        update = get_ema_multi_avg_fn(1.0 - self.momentum)
        for averaged, current in groups.values():
            update(averaged, current, self.steps)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data.to(b_avg.device))
        self.steps += 1
