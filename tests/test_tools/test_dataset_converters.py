"""tools/dataset_converters/to_csv.py: a COCO or VOC split written as the
CSV of CsvMultiLabel reads back to the same images, labels, ignored labels
and class order."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from conftest import load_tool, write_voc
from mlic.datasets import CocoMultiLabel, CsvMultiLabel, VOCMultiLabel


def _labels(ds):
    out = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        ignored = info.get('gt_label_difficult', info.get('gt_label_ignore'))
        out.append((osp.abspath(info['img_path']), list(info['gt_label']),
                    list(ignored) if ignored is not None else []))
    return out


def _coco(root):
    """Three images in two folders' worth of names, a class with a space,
    categories out of id order, an image without annotations."""
    (root / 'img').mkdir(parents=True)
    for name in ('a.jpg', 'b.jpg', 'c.jpg'):
        cv2.imwrite(str(root / 'img' / name), np.zeros((8, 8, 3), np.uint8))
    cats = [dict(id=7, name='traffic light'), dict(id=2, name='person'),
            dict(id=5, name='car')]
    images = [dict(id=i, file_name=n) for i, n in
              enumerate(('a.jpg', 'b.jpg', 'c.jpg'), start=1)]
    anns = [dict(id=1, image_id=1, category_id=7),
            dict(id=2, image_id=1, category_id=2),
            dict(id=3, image_id=1, category_id=7),
            dict(id=4, image_id=2, category_id=5)]
    (root / 'ann.json').write_text(json.dumps(
        dict(images=images, annotations=anns, categories=cats)))
    cfg = root / 'cfg.py'
    split = ("dict(dataset=dict(type='CocoMultiLabel', data_root=r'{r}', "
             "ann_file='ann.json', data_prefix='img', pipeline=[]))")
    cfg.write_text(f"train_dataloader = {split.format(r=root)}\n"
                   f"val_dataloader = {split.format(r=root)}\n")
    return cfg


def test_coco_round_trip(tmp_path):
    cfg = _coco(tmp_path / 'coco')
    out = tmp_path / 'csv'
    result = load_tool('dataset_converters/to_csv').main(
        [str(cfg), '--split', 'train', 'val', '--out-dir', str(out)])
    source = CocoMultiLabel(ann_file=str(tmp_path / 'coco/ann.json'),
                            data_prefix=str(tmp_path / 'coco/img'))
    # category ids 2, 5, 7 in id order; the space forces '|'
    assert result['classes'] == ['person', 'car', 'traffic light']
    assert result['label_sep'] == '|'
    assert (out / 'classes.txt').read_text() == 'person\ncar\ntraffic light\n'
    rows = (out / 'train.csv').read_text().splitlines()
    assert rows == ['image,labels,ignored', 'a.jpg,person|traffic light,',
                    'b.jpg,car,', 'c.jpg,,']
    back = CsvMultiLabel(ann_file=str(out / 'val.csv'),
                         data_prefix=str(tmp_path / 'coco/img'),
                         classes=str(out / 'classes.txt'), label_sep='|')
    assert list(back.metainfo['classes']) == result['classes']
    assert _labels(back) == _labels(source)


def test_voc_difficult_labels_become_the_ignored_column(tmp_path):
    root = write_voc(tmp_path / 'VOC2007',
                     {'000001': [('dog', 0), ('person', 1)],
                      '000002': [('car', 1), ('car', 0), ('cat', 1)],
                      '000003': []},
                     dict(trainval=['000001', '000002', '000003']))
    tool = load_tool('dataset_converters/to_csv')
    source = VOCMultiLabel(root, split='trainval')
    path = str(tmp_path / 'voc.csv')
    assert len(tool.write_split(source, path, ' ')) == 3
    assert open(path).read().splitlines()[1:] == [
        '000001.jpg,dog,person', '000002.jpg,car,cat', '000003.jpg,,']
    classes = tmp_path / 'classes.txt'
    classes.write_text('\n'.join(source.metainfo['classes']))
    back = CsvMultiLabel(ann_file=path,
                         data_prefix=osp.join(root, 'JPEGImages'),
                         classes=str(classes))
    assert _labels(back) == _labels(source)


def test_names_that_fit_no_separator():
    tool = load_tool('dataset_converters/to_csv')
    assert tool.label_separator(['cat', 'dog']) == ' '
    # what the reader splits on, not only the plain space
    for spaced in ('hot\u00a0dog', 'hot\tdog', 'hot dog'):
        assert tool.label_separator(['cat', spaced]) == '|'
    for bad in ('c|d', ' padded', 'padded\u00a0'):
        with pytest.raises(ValueError, match='cannot be written'):
            tool.label_separator(['a b', bad])


@pytest.mark.parametrize('name', ['hot\u00a0dog', 'hot\tdog'])
def test_names_with_other_white_space_round_trip(tmp_path, name):
    """A non-breaking space or a tab in a class name: written with '|',
    read back by the tool itself before it reports success."""
    cfg = _coco(tmp_path / 'coco')
    ann = tmp_path / 'coco' / 'ann.json'
    data = json.loads(ann.read_text())
    data['categories'][0]['name'] = name  # replaces 'traffic light'
    ann.write_text(json.dumps(data))
    out = tmp_path / 'csv'
    result = load_tool('dataset_converters/to_csv').main(
        [str(cfg), '--split', 'train', '--out-dir', str(out)])
    assert result['label_sep'] == '|'
    back = CsvMultiLabel(ann_file=str(out / 'train.csv'),
                         data_prefix=str(tmp_path / 'coco/img'),
                         classes=str(out / 'classes.txt'), label_sep='|')
    assert back.metainfo['classes'][2] == name
    assert [back.get_data_info(i)['gt_label'] for i in range(3)] == \
        [[0, 2], [1], []]


def test_a_file_that_does_not_read_back_is_refused(tmp_path):
    tool = load_tool('dataset_converters/to_csv')
    path = tmp_path / 'a.csv'
    path.write_text('image,labels,ignored\na.jpg,cat,\n')
    classes = tmp_path / 'classes.txt'
    classes.write_text('cat\ndog\n')
    from mlic.datasets.label_index import LabelIndexBuilder
    wanted = LabelIndexBuilder()
    wanted.add('a.jpg', [0, 1])  # cat and dog, but the file says cat
    with pytest.raises(ValueError, match=r'does not read back as written '
                       r'\(row 2\)'):
        tool.check_reads_back(str(path), str(classes), ' ', wanted.build())


def test_hidden_labels_round_trip_as_three_states(tmp_path):
    """A HideLabels split is written with a negatives column and reads back
    (unlisted='unknown') to the same positive / negative / unknown
    states."""
    from mlic.datasets import HideLabels
    from mlic.structures.label_states import label_states
    cfg = _coco(tmp_path / 'coco')
    text = cfg.read_text().replace(
        "train_dataloader = dict(dataset=dict(",
        "train_dataloader = dict(dataset=dict(type='HideLabels', "
        "mode='random', fraction=0.5, seed=3, dataset=dict(") \
        .replace("pipeline=[]))\nval", "pipeline=[])))\nval")
    cfg.write_text(text)
    out = tmp_path / 'csv'
    load_tool('dataset_converters/to_csv').main(
        [str(cfg), '--split', 'train', '--out-dir', str(out)])
    rows = (out / 'train.csv').read_text().splitlines()
    assert rows[0] == 'image,labels,negatives,ignored'
    hidden = HideLabels(CocoMultiLabel(
        ann_file=str(tmp_path / 'coco/ann.json'),
        data_prefix=str(tmp_path / 'coco/img')), mode='random',
        fraction=0.5, seed=3)
    back = CsvMultiLabel(ann_file=str(out / 'train.csv'),
                         data_prefix=str(tmp_path / 'coco/img'),
                         classes=str(out / 'classes.txt'), label_sep='|',
                         unlisted='unknown')

    def states(ds, i):
        info = ds.get_data_info(i)
        positive = np.zeros(3, bool)
        positive[np.asarray(info['gt_label'], dtype=np.int64)] = True
        return label_states(info, positive).tolist()
    got = [states(back, i) for i in range(3)]
    assert got == [states(hidden, i) for i in range(3)]
    assert sum(s.count(-1) for s in got) == 6  # round(0.5 * 3) per image
