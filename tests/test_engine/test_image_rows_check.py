"""A loss with a row per training image (ROLE) is checked against the
training set before the first step: enough rows, none shared."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.dataset import BaseDataset, ConcatDataset, RepeatDataset

from mlic.datasets import HideLabels
from mlic.engine.hooks.num_class_check_hook import (_base_dataset,
                                                    _check_image_rows)
from mlic.models.losses import PartialLabelLoss


class _Images(BaseDataset):
    METAINFO = dict(classes=('a', 'b', 'c'))

    def __init__(self, n):
        self.n = n
        super().__init__(serialize_data=False)

    def load_data_list(self):
        return [dict(img_path=f'{i}.jpg', gt_label=[i % 3])
                for i in range(self.n)]


class _Logger:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def _runner(loss):
    head = torch.nn.Module()
    head.loss_module = loss
    model = torch.nn.Module()
    model.head = head
    return SimpleNamespace(model=model, logger=_Logger())


def _role(rows):
    return PartialLabelLoss(mode='role', num_images=rows,
                            expected_positives=1.0)


def test_rows_equal_to_the_images_pass_silently():
    runner = _runner(_role(7))
    _check_image_rows(runner, _Images(7))
    assert runner.logger.warnings == []


def test_too_few_rows_are_refused_with_the_length_to_set():
    with pytest.raises(ValueError, match=r'num_images=5 rows but the '
                       r'training set \(_Images\) has 7 images.*'
                       r'model\.head\.loss\.num_images=7'):
        _check_image_rows(_runner(_role(5)), _Images(7))


def test_spare_rows_are_named_in_a_warning():
    runner = _runner(_role(10))
    _check_image_rows(runner, _Images(7))
    assert len(runner.logger.warnings) == 1
    assert '3 rows are never used' in runner.logger.warnings[0]


def test_a_concatenated_training_set_is_refused():
    # both parts number their images 0..6: rows would be shared
    train = ConcatDataset([_Images(7), _Images(7)])
    with pytest.raises(ValueError, match='ConcatDataset.*share rows'):
        _check_image_rows(_runner(_role(14)), train)


def test_wrappers_that_repeat_images_are_sized_by_the_images():
    # RepeatDataset x3 and HideLabels keep the wrapped indices: 7 rows
    base = _Images(7)
    train = HideLabels(RepeatDataset(base, times=3), fraction=0.5)
    assert _base_dataset(train) is base
    assert len(train) == 21
    runner = _runner(_role(7))
    _check_image_rows(runner, train)
    assert runner.logger.warnings == []


def test_other_losses_are_not_checked():
    runner = _runner(PartialLabelLoss(mode='ignore'))
    _check_image_rows(runner, ConcatDataset([_Images(2), _Images(2)]))
    assert runner.logger.warnings == []
