"""Fail early when the model and the data disagree on the classes.

One class list per model (:mod:`mlic.datasets.class_order`): the head's
``num_classes``, every split of a run and the checkpoint a run loads must
agree on the class names and their order. A loss that keeps a row per
training image (``PartialLabelLoss(mode='role')``) must have a row for each
of them, found by an index no two images share.
"""
from mmengine.dataset import ConcatDataset
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


def _base_dataset(dataset):
    """The dataset whose indices become ``sample_idx`` under wrappers that
    only repeat or re-draw its images (RepeatDataset, ClassBalancedDataset,
    HideLabels: each keeps the wrapped one as ``.dataset``); a
    ConcatDataset is returned as it is (its parts number their images from
    0 each)."""
    while not isinstance(dataset, ConcatDataset) and \
            getattr(dataset, 'dataset', None) is not None:
        dataset = dataset.dataset
    return dataset


def _check_image_rows(runner, train):
    """A loss with a row per training image (ROLE's label estimates) is
    sized for this training set, and the rows are not shared."""
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    loss = getattr(getattr(model, 'head', None), 'loss_module', None)
    if train is None or not getattr(loss, 'takes_sample_indices', False):
        return
    name = f"{type(loss).__name__}(mode='{getattr(loss, 'mode', '?')}')"
    base = _base_dataset(train)
    if isinstance(base, ConcatDataset):
        raise ValueError(
            f'{name} keeps a row per training image, found by its index in '
            'its dataset; the training set is a ConcatDataset, whose parts '
            'each number their images from 0, so images of different parts '
            'would share rows. Train on one dataset, for example one CSV '
            'file listing the images of every part (CsvMultiLabel; '
            'tools/dataset_converters/to_csv.py writes a dataset as CSV).')
    rows, images = int(loss.num_images), len(base)
    if rows < images:
        raise ValueError(
            f'{name} has num_images={rows} rows but the training set '
            f'({type(base).__name__}) has {images} images; set '
            f'model.head.loss.num_images={images} (for example '
            f'--cfg-options model.head.loss.num_images={images}).')
    if rows > images:
        runner.logger.warning(
            f'{name}: num_images={rows} rows for {images} training images; '
            f'{rows - images} rows are never used (set '
            f'model.head.loss.num_images={images} to save their memory).')


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
    * before training: a loss with a row per training image (ROLE) has
      ``num_images`` at least the training set's length (a warning names
      unused rows) and the training set is not a ConcatDataset (its parts
      would share rows);
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
        _check_image_rows(runner, train)
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
