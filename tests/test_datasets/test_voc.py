import os.path as osp

import numpy as np
import pytest

from conftest import VOC_CLASSES, write_voc
from mlic.datasets import DatasetError, VOCMultiLabel
from mlic.evaluation import multilabel_metrics

C = {name: i for i, name in enumerate(VOC_CLASSES)}
IMAGES = {
    '000001': [('dog', 0), ('person', 0), ('person', 1)],
    '000002': [('car', 1)],                      # car: difficult only
    '000003': [('cat', 0), ('cat', 1), ('chair', 1), ('sofa', 0)],
    '000004': [],                                # no object at all
}


@pytest.fixture
def voc07(tmp_path):
    return write_voc(tmp_path / 'VOC2007', IMAGES,
                     dict(trainval=['000001', '000002'],
                          test=['000003', '000004'],
                          train=['000001'], val=['000002']))


def _labels(ds):
    return [(ds.get_data_info(i)['img_id'], ds.get_data_info(i)['gt_label'],
             ds.get_data_info(i)['gt_label_difficult'])
            for i in range(len(ds))]


def test_labels_and_difficult_only_ignored(voc07):
    ds = VOCMultiLabel(voc07, split='trainval')
    assert ds.metainfo['classes'] == VOC_CLASSES
    assert _labels(ds) == [
        ('000001', sorted([C['dog'], C['person']]), []),
        ('000002', [], [C['car']]),
    ]
    test = VOCMultiLabel(voc07, split='test', test_mode=True)
    assert _labels(test) == [
        ('000003', sorted([C['cat'], C['sofa']]), [C['chair']]),
        ('000004', [], []),
    ]
    assert test.get_data_info(0)['img_path'] == osp.join(
        voc07, 'JPEGImages', '000003.jpg')
    assert [len(VOCMultiLabel(voc07, split=s)) for s in ('train', 'val')] \
        == [1, 1]


def test_difficult_as_positive(voc07):
    ds = VOCMultiLabel(voc07, split='test', difficult_as_positive=True)
    expect = sorted([C['cat'], C['chair'], C['sofa']])
    assert _labels(ds)[0] == ('000003', expect, [])


def test_test_split_without_annotations(tmp_path):
    root = write_voc(tmp_path / 'VOC2012', {'2008_000001': [],
                                            '2008_000002': []},
                     dict(test=['2008_000001', '2008_000002']),
                     with_annotations=False)
    assert not osp.exists(osp.join(root, 'Annotations', '2008_000001.xml'))
    ds = VOCMultiLabel(root, split='test', with_labels=False)
    assert len(ds) == 2
    info = ds.get_data_info(1)
    assert info['img_id'] == '2008_000002' and 'gt_label' not in info
    from mlic.utils import register_all_modules
    register_all_modules()
    out = VOCMultiLabel(root, split='test', with_labels=False,
                        pipeline=[dict(type='LoadImageChecked'),
                                  dict(type='PackInputs',
                                       meta_keys=('img_id', ))])[0]
    assert out['data_samples'].img_id == '2008_000001'
    with pytest.raises(FileNotFoundError, match='2008_000001.xml'):
        VOCMultiLabel(root, split='test')  # labels asked for, none there


def test_map_with_difficult_equals_hand_computation(voc07):
    """Scores for the 4 images; AP by hand without the ignored entries."""
    images = dict(IMAGES)
    splits = dict(test=list(images))
    root = write_voc(osp.join(osp.dirname(voc07), 'VOC_all'), images, splits)
    ds = VOCMultiLabel(root, split='test')
    targets = np.zeros((4, 20), int)
    for i in range(4):
        info = ds.get_data_info(i)
        targets[i, info['gt_label']] = 1
        targets[i, info['gt_label_difficult']] = -1
    scores = np.full((4, 20), 0.1)
    # car: image 2 (difficult only -> ignored) ranks first
    scores[:, C['car']] = [0.3, 0.9, 0.2, 0.1]
    # chair: image 3 difficult only -> ignored; no positive -> no AP
    # person: positive in image 1 only
    scores[:, C['person']] = [0.4, 0.8, 0.1, 0.2]
    # cat: positive in image 3; sofa: positive in image 3
    scores[:, C['cat']] = [0.7, 0.1, 0.6, 0.2]
    scores[:, C['sofa']] = [0.1, 0.2, 0.9, 0.3]
    # dog: positive in image 1
    scores[:, C['dog']] = [0.5, 0.6, 0.7, 0.1]
    m = multilabel_metrics(scores, targets)
    ap = m['AP_per_class']
    # Hand: person ranking (ignoring nothing): img2 0.8 (neg), img1 0.4 (pos)
    # -> precision at the positive 1/2. cat: img1 0.7 (neg), img3 0.6 (pos)
    # -> 1/2. sofa: img3 first -> 1. dog: img3 0.7, img2 0.6, img1 0.5 ->
    # 1/3. car, chair: no positive left -> excluded.
    assert ap[C['person']] == pytest.approx(50.0)
    assert ap[C['cat']] == pytest.approx(50.0)
    assert ap[C['sofa']] == pytest.approx(100.0)
    assert ap[C['dog']] == pytest.approx(100 / 3)
    assert np.isnan(ap[C['car']]) and np.isnan(ap[C['chair']])
    assert m['mAP'] == pytest.approx((50 + 50 + 100 + 100 / 3) / 4)
    # Counting car's difficult image as a negative would not change "no
    # positive"; count it as positive and car gets AP 100 and enters mAP.
    t2 = targets.copy()
    t2[1, C['car']] = 1
    assert multilabel_metrics(scores, t2)['AP_per_class'][C['car']] == 100.0


def test_difficult_ignored_in_threshold_metrics():
    # One class; image 0 ignored (score 0.9, above thr), image 1 positive.
    scores = np.array([[0.9], [0.8], [0.1]])
    targets = np.array([[-1], [1], [0]])
    m = multilabel_metrics(scores, targets, thr=0.5)
    assert m['CP'] == pytest.approx(100.0)  # the ignored 0.9 is not a FP
    assert m['OR'] == pytest.approx(100.0)


def test_bad_inputs_name_the_file(voc07, tmp_path):
    with pytest.raises(FileNotFoundError, match='ImageSets/Main/nosuch'):
        VOCMultiLabel(voc07, split='test', image_set_path='ImageSets/Main/'
                      'nosuch.txt')
    root = write_voc(tmp_path / 'V1', {'a': [('dog', 0)]}, dict(trainval=['a']))
    import os
    os.remove(osp.join(root, 'ImageSets', 'Main', 'trainval.txt'))
    with pytest.raises(FileNotFoundError, match='trainval.txt'):
        VOCMultiLabel(root, split='trainval')
    root = write_voc(tmp_path / 'V2', {'a': [('dgo', 0)]},
                     dict(trainval=['a']))
    with pytest.raises(DatasetError, match="a.xml.*'dgo'"):
        VOCMultiLabel(root, split='trainval')
    root = write_voc(tmp_path / 'V3', {'a': [('dog', 0)]},
                     dict(trainval=['a']))
    with open(osp.join(root, 'Annotations', 'a.xml'), 'w') as f:
        f.write('<annotation>\n<object><name>dog</name>\n</annotation>')
    with pytest.raises(DatasetError, match=r'a.xml:3:\d+: malformed XML'):
        VOCMultiLabel(root, split='trainval')
    root = write_voc(tmp_path / 'V4', {'a': [('dog', 0)]},
                     dict(trainval=['a', 'b']))
    with pytest.raises(FileNotFoundError,
                       match=r"trainval.txt:2: image id 'b' has no image"):
        VOCMultiLabel(root, split='trainval')
    with pytest.raises(DatasetError, match='split'):
        VOCMultiLabel(root, split='training')


def test_year_comes_from_the_devkit_folder(voc07, tmp_path):
    """The VOC server writer takes the year from the dataset's metainfo."""
    assert VOCMultiLabel(data_root=voc07, split='trainval').metainfo[
        'year'] == 'VOC2007'
    assert VOCMultiLabel(data_root=voc07, split='trainval',
                         year='VOC2012').metainfo['year'] == 'VOC2012'
    with pytest.raises(DatasetError, match="year='2012'"):
        VOCMultiLabel(data_root=voc07, split='trainval', year='2012')
    from mlic.evaluation import VOCSubmissionWriter
    writer = VOCSubmissionWriter(out_dir=str(tmp_path))
    writer.dataset_meta = dict(classes=VOC_CLASSES)  # no year known
    writer.results = [('2008_000001', np.full(20, 0.5))]
    with pytest.raises(ValueError, match='which VOC year'):
        writer.compute_metrics(writer.results)


def test_own_classes_in_voc_layout(tmp_path):
    """Data in VOC's layout with classes of its own: a list or a file
    relative to data_root; an unknown name says how to pass them."""
    images = {'a': [('widget', 0), ('gadget', 1)], 'b': [('gizmo', 0)],
              'c': [('widget', 0), ('widget', 1)]}
    root = write_voc(tmp_path / 'Parts', images, dict(trainval=['a', 'b',
                                                                'c']))
    with pytest.raises(DatasetError, match=r"unknown class name 'widget'.*"
                       r"VOCMultiLabel\(classes="):
        VOCMultiLabel(root, split='trainval')
    ds = VOCMultiLabel(root, split='trainval',
                       classes=['gadget', 'gizmo', 'widget'])
    assert ds.metainfo['classes'] == ('gadget', 'gizmo', 'widget')
    assert _labels(ds) == [('a', [2], [0]), ('b', [1], []), ('c', [2], [])]
    with open(osp.join(root, 'classes.txt'), 'w') as f:
        f.write('widget\ngizmo\n\ngadget\n')
    ds = VOCMultiLabel(root, split='trainval', classes='classes.txt')
    assert ds.metainfo['classes'] == ('widget', 'gizmo', 'gadget')
    assert _labels(ds)[0] == ('a', [0], [2])
    with pytest.raises(FileNotFoundError, match='relative to data_root'):
        VOCMultiLabel(root, split='trainval', classes='nosuch.txt')
    with pytest.raises(DatasetError, match="'gizmo' is repeated"):
        VOCMultiLabel(root, split='trainval',
                      classes=['gizmo', 'widget', 'gizmo', 'gadget'])
