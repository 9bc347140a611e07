"""Fail early when the model and the data disagree on the classes.

One class list per model (:mod:`mlic.datasets.class_order`): the head's
``num_classes``, every split of a run and the checkpoint a run loads must
agree on the class names and their order.
"""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mlic.datasets.class_order import (check_class_order, classes_file_hint)
from mlic.registry import HOOKS
from mlic.upstream.private import built_loop


def _num_classes_of(model):
    if is_model_wrapper(model):
        model = model.module
    head = getattr(model, 'head', None)
    return getattr(head, 'num_classes', None)


def _dataset_of(loop):
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    # the training loader's SeededDataset wraps the real one
    return getattr(dataset, 'seeded_dataset', dataset)


def _classes_of(dataset):
    classes = getattr(dataset, 'metainfo', {}).get('classes', None)
    return None if classes is None else [str(c) for c in classes]


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    """Check that the model and every dataset share one class list.

    * before training, validation and testing: ``model.head.num_classes``
      equals the number of classes of the dataset of that phase;
    * before training: the validation split has the same class names in
      the same order as the training split (a CSV split without a
      ``classes`` list sorts its own names: with one class more or less, or
      another name, every column would mean another class); the log lists
      the classes and the size of each split;
    * when a checkpoint is loaded (``tools/test.py``, ``load_from``,
      ``--resume``): the classes it was trained on (saved in its meta) are
      the dataset's, in order.

    Each mismatch stops the run with what differs and how to fix it.
    """

    priority = 'VERY_HIGH'

    def _check_count(self, runner, stage):
        loop = built_loop(runner, stage)
        dataset = _dataset_of(loop)
        num_classes = _num_classes_of(runner.model)
        classes = _classes_of(dataset)
        if num_classes is None or classes is None:
            return
        if num_classes != len(classes):
            raise ValueError(
                f'model.head.num_classes={num_classes} but the {stage} '
                f'dataset ({type(dataset).__name__}) has {len(classes)} '
                f'classes; set num_classes={len(classes)} in the model '
                'config (for example --cfg-options '
                f'model.head.num_classes={len(classes)} '
                f'data_preprocessor.num_classes={len(classes)}).')

    def before_train(self, runner):
        train = _dataset_of(built_loop(runner, 'train'))
        classes = _classes_of(train)
        val = _dataset_of(built_loop(runner, 'val'))
        val_classes = _classes_of(val)
        if classes is not None and val_classes is not None:
            check_class_order(
                classes, 'the training split', val_classes,
                'the validation split',
                'Give every split ' + classes_file_hint(classes) + '.')
        self._check_count(runner, 'train')
        if classes is not None:
            sizes = [f'train {len(train)} images']
            if val is not None:
                sizes.append(f'val {len(val)} images')
            runner.logger.info(
                f'Classes ({len(classes)}): {classes[:30]}'
                f'{" ..." if len(classes) > 30 else ""}; '
                + ', '.join(sizes))

    def before_val(self, runner):
        self._check_count(runner, 'val')

    def before_test(self, runner):
        self._check_count(runner, 'test')

    def after_load_checkpoint(self, runner, checkpoint):
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) \
            else None
        trained = ((meta or {}).get('dataset_meta') or {}).get('classes')
        if trained is None:
            return
        for stage in ('test', 'train'):
            dataset = _dataset_of(built_loop(runner, stage))
            classes = _classes_of(dataset)
            if classes is None:
                continue
            fix = ('Evaluate on a dataset with the checkpoint\'s class '
                   'order: ' + classes_file_hint(trained) + '; or, for a '
                   'CSV dataset, tools/test.py --remap-classes (takes the '
                   'checkpoint\'s order, said in the log).') \
                if stage == 'test' else (
                    'Train with the checkpoint\'s classes (' +
                    classes_file_hint(trained) + '), or load it with '
                    '--partial-load to start a new head.')
            what = 'this test dataset' if stage == 'test' else \
                'this training dataset'
            if stage == 'train' and runner.cfg.get('partial_load', False):
                return  # a new head on purpose
            check_class_order([str(c) for c in trained],
                              'the checkpoint (the classes it was trained '
                              'on)', classes, what, fix)
            return
