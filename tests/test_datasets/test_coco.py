import os
import os.path as osp

import pytest

from conftest import write_coco
from mlic.datasets import CocoMultiLabel, DatasetError

CATS = [(1, 'person'), (3, 'car'), (18, 'dog'), (90, 'toothbrush')]
IMAGES = [(11, 'a.jpg'), (12, 'b.jpg'), (13, 'c.jpg'), (14, 'd.jpg')]
# image 11: person twice + dog; 12: toothbrush; 13: none; 14: car + person
ANNS = [(11, 1), (11, 1), (11, 18), (12, 90), (14, 3), (14, 1)]


def test_labels_are_union_of_instances(tmp_path):
    ann = write_coco(str(tmp_path), IMAGES, CATS, ANNS)
    ds = CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'))
    assert ds.metainfo['classes'] == ('person', 'car', 'dog', 'toothbrush')
    assert len(ds) == 4  # the image without objects is kept
    by_id = {ds.get_data_info(i)['img_id']: ds.get_data_info(i)
             for i in range(len(ds))}
    assert by_id[11]['gt_label'] == [0, 2]
    assert by_id[12]['gt_label'] == [3]
    assert by_id[13]['gt_label'] == []
    assert by_id[14]['gt_label'] == [0, 1]
    assert by_id[12]['img_path'] == osp.join(str(tmp_path), 'images', 'b.jpg')
    dropped = CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'),
                             drop_empty=True)
    assert len(dropped) == 3


def test_data_root_joins_relative_paths(tmp_path):
    write_coco(str(tmp_path), IMAGES, CATS, ANNS, ann_name='ann.json')
    ds = CocoMultiLabel(data_root=str(tmp_path), ann_file='ann.json',
                        data_prefix='images')
    assert len(ds) == 4


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        CocoMultiLabel(ann_file=str(tmp_path / 'nope.json'),
                       data_prefix=str(tmp_path))


def test_missing_image_folder(tmp_path):
    ann = write_coco(str(tmp_path), IMAGES, CATS, ANNS)
    with pytest.raises(FileNotFoundError, match='image folder not found.*imgs'):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'))


def test_missing_image_file_found_at_start(tmp_path):
    ann = write_coco(str(tmp_path), IMAGES, CATS, ANNS)
    os.remove(tmp_path / 'images' / 'c.jpg')
    with pytest.raises(FileNotFoundError, match=r'1 image\(s\).*c\.jpg'):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'))


def test_unknown_category_id(tmp_path):
    ann = write_coco(str(tmp_path), IMAGES, CATS, ANNS + [(13, 7)])
    with pytest.raises(DatasetError, match='category_id=7'):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'))


def test_annotation_of_unknown_image(tmp_path):
    ann = write_coco(str(tmp_path), IMAGES, CATS, ANNS + [(99, 1)])
    with pytest.raises(DatasetError, match='image_id=99'):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'))


def test_not_json_or_not_coco(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": [')
    with pytest.raises(DatasetError, match='bad.json is not valid JSON'):
        CocoMultiLabel(ann_file=str(bad), data_prefix=str(tmp_path))
    bad.write_text('{"images": []}')
    with pytest.raises(DatasetError, match='no "annotations"'):
        CocoMultiLabel(ann_file=str(bad), data_prefix=str(tmp_path))


def test_classes_in_config_must_match(tmp_path):
    ann = write_coco(str(tmp_path), IMAGES, CATS, ANNS)
    with pytest.raises(DatasetError, match='differ from the categories'):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'),
                       metainfo=dict(classes=('a', 'b')))


def test_zero_images_is_named(tmp_path):
    ann = write_coco(str(tmp_path), [], CATS, [])
    with pytest.raises(DatasetError, match=r'instances\.json: "images" is '
                       'empty'):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'))


def test_image_without_file_name(tmp_path):
    import json
    ann = write_coco(str(tmp_path), IMAGES, CATS, ANNS)
    data = json.load(open(ann))
    del data['images'][2]['file_name']
    json.dump(data, open(ann, 'w'))
    with pytest.raises(DatasetError,
                       match=r'images\[2\] has no "file_name"'):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'))


def test_duplicate_image_id(tmp_path):
    ann = write_coco(str(tmp_path), IMAGES + [(12, 'e.jpg')], CATS, ANNS)
    with pytest.raises(DatasetError, match=r"image id=12 appears twice "
                       r"\(images\[1\] 'b.jpg' and images\[4\] 'e.jpg'\)"):
        CocoMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'images'))
