"""Fail early when the model and the dataset disagree on the classes."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mlic.registry import HOOKS


def _num_classes_of(model):
    if is_model_wrapper(model):
        model = model.module
    head = getattr(model, 'head', None)
    return getattr(head, 'num_classes', None)


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    """Check ``model.head.num_classes`` against each dataset's ``classes``.

    Runs before training, validation and testing, so that a config whose head
    is sized for another dataset stops with one message naming both numbers
    instead of training on wrong (or out-of-range) labels.
    """

    priority = 'VERY_HIGH'

    def _check(self, runner, dataloader, phase):
        num_classes = _num_classes_of(runner.model)
        dataset = getattr(dataloader, 'dataset', None)
        # the training loader's SeededDataset wraps the real one
        dataset = getattr(dataset, 'seeded_dataset', dataset)
        classes = getattr(dataset, 'metainfo', {}).get('classes', None)
        if num_classes is None or classes is None:
            return
        if num_classes != len(classes):
            raise ValueError(
                f'model.head.num_classes={num_classes} but the {phase} dataset '
                f'({type(dataset).__name__}) has {len(classes)} classes; set '
                f'num_classes={len(classes)} in the model config (for example '
                f'--cfg-options model.head.num_classes={len(classes)}).')

    def before_train(self, runner):
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner):
        self._check(runner, runner.val_loop.dataloader, 'val')

    def before_test(self, runner):
        self._check(runner, runner.test_loop.dataloader, 'test')
