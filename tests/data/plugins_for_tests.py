"""Components the tool tests load through custom_imports."""
import time

from mmengine.hooks import Hook

from mlic.registry import HOOKS


@HOOKS.register_module()
class SlowDownHook(Hook):
    """Sleep after each iteration from a given epoch on (gives a test time
    to kill a run between two checkpoints)."""

    def __init__(self, seconds=0.5, from_epoch=1):
        self.seconds = seconds
        self.from_epoch = from_epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.epoch >= self.from_epoch:
            time.sleep(self.seconds)


class RunInterrupted(Exception):
    """Stands for a kill in the middle of a run (in-process tests)."""


@HOOKS.register_module()
class InterruptHook(Hook):
    """Raise RunInterrupted after iteration ``at_iter`` of epoch ``epoch``
    (1-based): the run stops between two checkpoints, as after a kill."""

    priority = 'LOWEST'

    def __init__(self, epoch=2, at_iter=2):
        self.epoch = epoch
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.epoch + 1 == self.epoch and batch_idx + 1 == self.at_iter:
            raise RunInterrupted(f'interrupted at epoch {self.epoch}, '
                                 f'iteration {self.at_iter}')


from mmengine.evaluator import BaseMetric  # noqa: E402

from mlic.registry import METRICS  # noqa: E402


@METRICS.register_module()
class RisingMetric(BaseMetric):
    """'mAP' that grows with every evaluation in this process, so that each
    validation writes a new best checkpoint."""

    calls = 0

    def process(self, data_batch, data_samples):
        self.results.extend(0 for _ in data_samples)

    def compute_metrics(self, results):
        RisingMetric.calls += 1
        return {'mAP': float(RisingMetric.calls)}


from mmcv.transforms import BaseTransform  # noqa: E402

from mlic.registry import TRANSFORMS  # noqa: E402


@TRANSFORMS.register_module()
class Sleep(BaseTransform):
    """Wait ``seconds`` per image (gives a test time to kill a tool)."""

    def __init__(self, seconds=0.2):
        self.seconds = seconds

    def transform(self, results):
        time.sleep(self.seconds)
        return results
