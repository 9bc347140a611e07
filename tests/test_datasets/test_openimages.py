"""OpenImagesMultiLabel on small files in OpenImages' real column layout."""
import os.path as osp

import cv2
import numpy as np
import pytest

from mlic.datasets import DatasetError, OpenImagesMultiLabel
from mlic.structures.label_states import label_states

LABELS = ('ImageID,Source,LabelName,Confidence\n'
          '000002b66c9c498e,verification,/m/014j1m,0\n'
          '000002b66c9c498e,verification,/m/014sv8,1\n'
          '000002b66c9c498e,crowdsource-verification,/m/0dzct,1\n'
          '000002b97e5471a0,verification,/m/05s2s,1\n'
          '000002b97e5471a0,verification,/m/0c9ph5,1\n'  # not trainable
          '000002b97e5471a0,verification,/m/014j1m,1\n'
          '000002b97e5471a0,verification,/m/014j1m,0\n'  # sources disagree
          '000002c707c9895e,verification,/m/0dzct,0\n')
DESCRIPTIONS = ('LabelName,DisplayName\n'
                '/m/014j1m,Apple\n'
                '/m/014sv8,Human eye\n'
                '/m/0dzct,Human face\n'
                '/m/05s2s,Plant\n'
                '/m/0c9ph5,Flower\n'
                '/m/0449p,Jaguar\n'
                '/m/012x34,Jaguar\n')
TRAINABLE = '/m/0dzct\n/m/014j1m\n/m/05s2s\n/m/014sv8\n/m/0449p\n/m/012x34\n'


def _files(tmp_path):
    for name, text in (('labels.csv', LABELS), ('desc.csv', DESCRIPTIONS),
                       ('trainable.txt', TRAINABLE)):
        (tmp_path / name).write_text(text)
    (tmp_path / 'images').mkdir()
    for image in ('000002b66c9c498e', '000002b97e5471a0',
                  '000002c707c9895e'):
        cv2.imwrite(str(tmp_path / 'images' / f'{image}.jpg'),
                    np.zeros((8, 8, 3), np.uint8))


def test_three_states_from_the_verified_labels(tmp_path):
    _files(tmp_path)
    ds = OpenImagesMultiLabel(
        ann_file='labels.csv', class_descriptions='desc.csv',
        trainable_classes='trainable.txt', data_root=str(tmp_path),
        data_prefix='images')
    # the trainable list's order; a shared display name gets its LabelName
    assert ds.metainfo['classes'] == (
        'Human face', 'Apple', 'Plant', 'Human eye', 'Jaguar (/m/0449p)',
        'Jaguar (/m/012x34)')
    assert len(ds) == 3
    states = []
    for i in range(3):
        info = ds.get_data_info(i)
        positive = np.zeros(6, bool)
        positive[info['gt_label']] = True
        states.append(label_states(info, positive).tolist())
    # 1 +, 0 -, -1 unknown, -2 ignored (two sources disagree)
    assert states == [[1, 0, -1, 1, -1, -1],
                      [-1, -2, 1, -1, -1, -1],
                      [0, -1, -1, -1, -1, -1]]
    info = ds.get_data_info(1)
    assert info['img_path'] == osp.join(str(tmp_path), 'images',
                                        '000002b97e5471a0.jpg')


def test_without_trainable_list_every_described_class(tmp_path):
    _files(tmp_path)
    ds = OpenImagesMultiLabel(
        ann_file=str(tmp_path / 'labels.csv'),
        class_descriptions=str(tmp_path / 'desc.csv'),
        data_prefix=str(tmp_path / 'images'))
    assert len(ds.metainfo['classes']) == 7
    assert ds.get_data_info(1)['gt_label'] == [3, 4]  # Plant, Flower


def test_bad_files_are_named(tmp_path):
    _files(tmp_path)
    (tmp_path / 'bad.csv').write_text('ImageID,LabelName\nx,/m/014j1m\n')
    with pytest.raises(DatasetError, match='Confidence'):
        OpenImagesMultiLabel(ann_file=str(tmp_path / 'bad.csv'),
                             class_descriptions=str(tmp_path / 'desc.csv'),
                             data_prefix=str(tmp_path / 'images'))
    (tmp_path / 'bad.csv').write_text(
        'ImageID,Source,LabelName,Confidence\nx,v,/m/014j1m,0.7\n')
    with pytest.raises(DatasetError, match=r"bad.csv:2: Confidence '0.7'"):
        OpenImagesMultiLabel(ann_file=str(tmp_path / 'bad.csv'),
                             class_descriptions=str(tmp_path / 'desc.csv'),
                             data_prefix=str(tmp_path / 'images'))
    (tmp_path / 'bad.csv').write_bytes(
        b'ImageID,Source,LabelName,Confidence\nx,v,/m/014j1m,1\n'
        b'y,v\xff,/m/014j1m,1\n')
    with pytest.raises(DatasetError, match=r'bad.csv:3: not UTF-8'):
        OpenImagesMultiLabel(ann_file=str(tmp_path / 'bad.csv'),
                             class_descriptions=str(tmp_path / 'desc.csv'),
                             data_prefix=str(tmp_path / 'images'))
    (tmp_path / 'tr.txt').write_text('/m/nope\n')
    with pytest.raises(DatasetError, match="'/m/nope'"):
        OpenImagesMultiLabel(ann_file=str(tmp_path / 'labels.csv'),
                             class_descriptions=str(tmp_path / 'desc.csv'),
                             trainable_classes=str(tmp_path / 'tr.txt'),
                             data_prefix=str(tmp_path / 'images'))
    with pytest.raises(ValueError, match='unlisted= is set by'):
        OpenImagesMultiLabel(ann_file=str(tmp_path / 'labels.csv'),
                             class_descriptions=str(tmp_path / 'desc.csv'),
                             unlisted='negative')


def test_interleaved_rows_match_a_per_image_reading(tmp_path):
    """Rows of one image spread over the file (not grouped as OpenImages
    ships them), repeated rows and conflicts: each image (in order of its
    first row) gets exactly the positives, negatives and ignored classes a
    plain per-image reading of the rows gives; the log counts the
    conflicts."""
    rng = np.random.default_rng(5)
    mids = [f'/m/{k:03d}' for k in range(9)]
    (tmp_path / 'desc.csv').write_text(''.join(f'{m},Class {k}\n'
                                               for k, m in enumerate(mids)))
    ids = [f'{k:016x}' for k in rng.integers(0, 2**62, size=40)]
    rows = [(ids[rng.integers(40)], mids[rng.integers(9)],
             int(rng.integers(2))) for _ in range(400)]
    rows += [rows[k] for k in rng.integers(0, 400, size=30)]  # repeats
    rows.append((ids[0], '/m/999', 1))  # a class outside the list
    (tmp_path / 'labels.csv').write_text(
        'ImageID,Source,LabelName,Confidence\n' + ''.join(
            f'{i},verification,{m},{c}\n' for i, m, c in rows))
    expected = {}
    for i, m, c in rows:
        if m in mids:
            expected.setdefault(i, (set(), set()))[1 - c].add(mids.index(m))
    ds = OpenImagesMultiLabel(ann_file=str(tmp_path / 'labels.csv'),
                              class_descriptions=str(tmp_path / 'desc.csv'),
                              check_files=False)
    assert len(ds) == len(expected)
    conflicts = 0
    for k, (image, (pos, neg)) in enumerate(expected.items()):
        info = ds.get_data_info(k)
        assert osp.basename(info['img_path']) == image + '.jpg'
        both = pos & neg
        conflicts += len(both)
        assert sorted(info['gt_label']) == sorted(pos - both)
        assert sorted(info['gt_label_negative']) == sorted(neg - both)
        assert sorted(info['gt_label_ignore']) == sorted(both)
    assert conflicts > 0
    assert ds.index.duplicates() == []


def test_runs_of_one_image_are_merged_by_path_not_by_hash():
    """_merge_runs with every hash equal (collisions forced): runs merge
    only where their paths are equal; an image keeps its first run's
    line and place."""
    from mlic.datasets.openimages import _merge_runs
    names = [b'a.jpg', b'b.jpg', b'a.jpg', b'c.jpg', b'b.jpg']
    paths = np.frombuffer(b''.join(names), np.uint8)
    offsets = np.r_[0, np.cumsum([len(n) for n in names])].astype(np.int64)
    lines = np.array([2, 3, 5, 8, 9], np.int64)
    hashes = np.zeros(5, np.int64)
    merged, new_offsets, new_hashes, new_lines, image_of_run = _merge_runs(
        paths, offsets, hashes, lines)
    assert image_of_run.tolist() == [0, 1, 0, 2, 1]
    assert [merged[new_offsets[i]:new_offsets[i + 1]].tobytes()
            for i in range(3)] == [b'a.jpg', b'b.jpg', b'c.jpg']
    assert new_lines.tolist() == [2, 3, 8] and new_hashes.size == 3
    # distinct paths whose hashes collide stay apart; no repeat: None
    distinct = _merge_runs(paths[:10], offsets[:3], hashes[:2], lines[:2])
    assert distinct[-1] is None  # each run its own image
    assert _merge_runs(paths[:10], offsets[:3], np.array([1, 2]),
                       lines[:2])[-1] is None
