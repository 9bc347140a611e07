"""CsvMultiLabel: exact labels of a hand-written file, and every error."""
import os.path as osp

import cv2
import numpy as np
import pytest

from mlic.datasets import CsvMultiLabel, DatasetError


def _images(root, names):
    for name in names:
        path = osp.join(root, name)
        import os
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, np.zeros((8, 8, 3), np.uint8))


def _write(path, text):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return str(path)


GOOD = ('image,labels,ignored\n'
        'a/1.jpg,cat dog,\n'
        'a/2.jpg,,\n'                  # no positive label: a negative
        'b/3.jpg,person,bike\n'        # bike ignored
        'b/4.jpg,dog  cat,dog\n')      # dog both: stays positive


def test_labels_of_a_hand_written_file(tmp_path):
    _images(tmp_path / 'imgs', ['a/1.jpg', 'a/2.jpg', 'b/3.jpg', 'b/4.jpg'])
    ann = _write(tmp_path / 'train.csv', GOOD)
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'))
    # no classes given: the sorted names of the file
    assert ds.metainfo['classes'] == ('bike', 'cat', 'dog', 'person')
    items = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['gt_label'] for d in items] == [[1, 2], [], [3], [1, 2]]
    assert [d['gt_label_ignore'] for d in items] == [[], [], [0], [2]]
    assert items[2]['img_path'] == osp.join(str(tmp_path), 'imgs', 'b',
                                            '3.jpg')
    assert items[2]['img_id'] == 'b/3.jpg'
    # the class order of a file, and the ignored rule of the metric/loss
    classes = _write(tmp_path / 'classes.txt', 'person\ndog\ncat\nbike\n')
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'),
                       classes=classes)
    assert ds.metainfo['classes'] == ('person', 'dog', 'cat', 'bike')
    assert ds.get_data_info(0)['gt_label'] == [1, 2]
    from mlic.structures.label_states import ignored_classes
    info = ds.get_data_info(3)
    positive = np.zeros(4, bool)
    positive[info['gt_label']] = True
    assert ignored_classes(info, positive).tolist() == []  # dog positive
    info = ds.get_data_info(2)
    positive = np.zeros(4, bool)
    positive[info['gt_label']] = True
    assert ignored_classes(info, positive).tolist() == [3]  # bike


def test_tsv_other_columns_and_separator(tmp_path):
    _images(tmp_path, ['x.png', 'y.png'])
    ann = _write(tmp_path / 'a.tsv', 'file\ttags\n/ABS\tsky|sea\ny.png\t\n'
                 .replace('/ABS', str(tmp_path / 'x.png')))
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path),
                       img_col='file', label_col='tags', label_sep='|',
                       delimiter='\t', classes=['sea', 'sky', 'sand'])
    assert ds.get_data_info(0)['img_path'] == str(tmp_path / 'x.png')
    assert ds.get_data_info(0)['gt_label'] == [0, 1]
    assert ds.get_data_info(1)['gt_label'] == []


@pytest.mark.parametrize('text,kwargs,error,message', [
    ('image,labels\na.jpg,cat\nb.jpg,cow\n', dict(classes=['cat', 'dog']),
     DatasetError, r"t.csv:3: unknown class 'cow' in column 'labels'"),
    ('image,labels\na.jpg,cat\nb.jpg,dog\na.jpg,dog\n', {},
     DatasetError, r"t.csv:4: image 'a.jpg' is listed again \(first on "
     r"line 2\)"),
    ('image,labels\na.jpg,cat,extra\n', {},
     DatasetError, r"t.csv:2: 3 fields, the header has 2"),
    ('', {}, DatasetError, r't.csv is empty'),
    ('image,labels\n', {}, DatasetError, r'has a header but no image rows'),
    ('img,labels\na.jpg,cat\n', {}, DatasetError,
     r"t.csv:1: no column 'image' in the header \['img', 'labels'\]"),
    ('image,labels\na.jpg,cat\nmissing.jpg,cat\n', {}, FileNotFoundError,
     r"t.csv: 1 image\(s\) not found \(line 3: .*missing.jpg\)"),
    ('image,labels\na.jpg,cat\n', dict(classes=['cat', 'cat']),
     DatasetError, r"lists \['cat'\] more than once"),
])
def test_errors_name_file_line_and_value(tmp_path, text, kwargs, error,
                                         message):
    _images(tmp_path, ['a.jpg', 'b.jpg'])
    ann = _write(tmp_path / 't.csv', text)
    with pytest.raises(error, match=message):
        CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path), **kwargs)


def test_missing_files_can_be_left_to_loading(tmp_path):
    ann = _write(tmp_path / 't.csv', 'image,labels\nnope.jpg,cat\n')
    ds = CsvMultiLabel(ann_file=ann, check_files=False)
    assert len(ds) == 1


def test_a_non_utf8_file_names_its_line(tmp_path):
    _images(tmp_path, ['a.jpg', 'b.jpg'])
    path = tmp_path / 'cp1252.csv'
    path.write_bytes('image,labels\na.jpg,cat\nb.jpg,caf\xe9\n'
                     .encode('cp1252'))
    with pytest.raises(DatasetError, match=r'cp1252.csv:3: not UTF-8 text '
                       r'\(byte 0xe9.*iconv'):
        CsvMultiLabel(ann_file=str(path), data_prefix=str(tmp_path))


def test_a_classes_file_with_a_byte_order_mark(tmp_path):
    _images(tmp_path, ['a.jpg'])
    ann = _write(tmp_path / 'x.csv', 'image,labels\na.jpg,circle\n')
    classes = tmp_path / 'classes.txt'
    classes.write_bytes('\ufeffcircle\nsquare\n'.encode('utf-8'))
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path),
                       classes=str(classes))
    assert ds.metainfo['classes'] == ('circle', 'square')
    assert ds.get_data_info(0)['gt_label'] == [0]


def test_the_compact_index_round_trips_every_row(tmp_path):
    """A generated file of 3,000 rows (labels in random order, repeats,
    ignored labels, quoted fields): every item equals the row it came
    from, in a worker process as well (the index is what forks share)."""
    import csv
    rng = np.random.default_rng(0)
    names = [f'tag{k:03d}' for k in range(150)]
    rows = []
    with open(tmp_path / 'big.csv', 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['image', 'labels', 'ignored'])
        for i in range(3000):
            pos = list(rng.choice(names, rng.integers(0, 6)))
            ign = list(rng.choice(names, rng.integers(0, 2)))
            path = f'd{i % 7}/ü {i}.jpg'  # non-ASCII, spaces
            writer.writerow([path, ' '.join(pos + pos[:1]), ' '.join(ign)])
            rows.append((path, pos, ign))
    ds = CsvMultiLabel(ann_file=str(tmp_path / 'big.csv'),
                       data_prefix='root', check_files=False)
    classes = ds.metainfo['classes']
    assert list(classes) == sorted({n for _, p, g in rows for n in p + g})
    index = {c: k for k, c in enumerate(classes)}
    assert len(ds) == 3000
    for i, (path, pos, ign) in enumerate(rows):
        item = ds.get_data_info(i)
        assert item['img_id'] == path
        assert item['img_path'] == osp.join('root', path)
        assert item['gt_label'] == sorted({index[n] for n in pos})
        assert item['gt_label_ignore'] == sorted({index[n] for n in ign})
        assert item['sample_idx'] == i
    assert ds.get_data_info(-1)['img_id'] == rows[-1][0]
    sub = CsvMultiLabel(ann_file=str(tmp_path / 'big.csv'),
                        data_prefix='root', check_files=False,
                        indices=[5, 2])
    assert [sub.get_data_info(i)['img_id'] for i in range(2)] == [
        rows[5][0], rows[2][0]]
    from torch.utils.data import DataLoader
    got = next(iter(DataLoader(_Infos(ds), batch_size=None,
                               num_workers=1, sampler=[2999])))
    assert got['img_id'] == rows[2999][0]


class _Infos:
    def __init__(self, ds):
        self.ds = ds

    def __getitem__(self, i):
        return self.ds.get_data_info(i)

    def __len__(self):
        return len(self.ds)


@pytest.mark.parametrize('rows, line, how', [
    # a big file: csv's field limit is reached inside the open quote
    (['x.jpg,cat'] * 3 + ['"y.jpg,dog'] + ['z%d.jpg,cat' % i
                                          for i in range(20000)],
     5, 'never closed'),
    # a small file: the quote swallows every line after it
    (['x.jpg,cat', '"y.jpg,dog', 'z.jpg,cat', 'w.jpg,dog'], 3,
     r'never closed \(it swallows lines 4-5\)'),
    # closed two lines later
    (['x.jpg,cat', '"y.jpg,dog', 'z.jpg,cat', 'w.jpg",dog', 'v.jpg,cat'], 3,
     r'closed only on line 5'),
])
def test_an_unclosed_quote_is_named_where_it_opens(tmp_path, rows, line,
                                                   how):
    ann = _write(tmp_path / 'a.csv', 'image,labels\n' + '\n'.join(rows)
                 + '\n')
    with pytest.raises(DatasetError, match=rf'a.csv:{line}: a quoted field '
                       rf'opened here is {how}'):
        CsvMultiLabel(ann_file=ann, check_files=False).full_init()


def test_one_image_written_two_ways_is_a_repeat(tmp_path):
    root = tmp_path / 'imgs'
    _images(root, ['a.jpg', 'sub/b.jpg'])
    for other in ('./a.jpg', 'sub/../a.jpg', str(root / 'a.jpg'),
                  'sub//../a.jpg'):
        ann = _write(tmp_path / 'a.csv', 'image,labels\na.jpg,cat\n'
                     f'sub/b.jpg,dog\n{other},dog\n')
        with pytest.raises(DatasetError, match=r"a.csv:4: image .* is "
                           r"listed again \(as 'a.jpg': the same file\) "
                           r"\(first on line 2\)"):
            CsvMultiLabel(ann_file=ann, data_prefix=str(root)).full_init()
    # different files stay different, written either way
    ann = _write(tmp_path / 'a.csv', 'image,labels\n./a.jpg,cat\n'
                 f'{root / "sub" / "b.jpg"},dog\n')
    assert len(CsvMultiLabel(ann_file=ann, data_prefix=str(root))) == 2


def test_spaces_around_a_path_are_said(tmp_path, capsys):
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mlic_csv_spaces')
    root = tmp_path / 'imgs'
    _images(root, ['a.jpg', 'b.jpg'])
    ann = _write(tmp_path / 'a.csv', 'image,labels\na.jpg,cat\n b.jpg,dog\n')
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(root))
    assert ds.get_data_info(1)['img_id'] == 'b.jpg'
    out = capsys.readouterr()
    assert "1 image path(s) had spaces around them, which were removed " \
        "(first on line 3)" in out.out + out.err


PARTIAL = ('image,labels,negatives,ignored\n'
           'a/1.jpg,cat,dog bike,\n'      # cat +, dog bike -, person ?
           'a/2.jpg,,,\n'                  # nothing known
           'b/3.jpg,person,cat,bike\n')    # bike ignored, dog ?


def test_three_states_from_a_negatives_column(tmp_path):
    from mlic.structures.label_states import label_states
    _images(tmp_path / 'imgs', ['a/1.jpg', 'a/2.jpg', 'b/3.jpg'])
    ann = _write(tmp_path / 'train.csv', PARTIAL)
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'),
                       classes=['bike', 'cat', 'dog', 'person'],
                       unlisted='unknown')
    states = []
    for i in range(3):
        info = ds.get_data_info(i)
        positive = np.zeros(4, bool)
        positive[info['gt_label']] = True
        states.append(label_states(info, positive).tolist())
    # 1 positive, 0 negative, -1 unknown, -2 ignored
    assert states == [[0, 1, 0, -1], [-1, -1, -1, -1], [-2, 0, -1, 1]]
    # the packed sample carries them without algorithm_keys
    from mmpretrain.datasets.transforms import PackInputs
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'),
                       classes=['bike', 'cat', 'dog', 'person'],
                       unlisted='unknown', pipeline=[PackInputs()])
    sample = ds[2]['data_samples']
    assert list(sample.gt_label_negative) == [1]
    assert list(sample.gt_label_ignore) == [0]


def test_a_negatives_column_needs_unlisted_unknown(tmp_path):
    _images(tmp_path / 'imgs', ['a/1.jpg', 'a/2.jpg', 'b/3.jpg'])
    ann = _write(tmp_path / 'train.csv', PARTIAL)
    with pytest.raises(DatasetError, match="unlisted='unknown'"):
        CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'))
    with pytest.raises(ValueError, match="unlisted='maybe'"):
        CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'),
                      unlisted='maybe')


def test_a_label_both_positive_and_negative_is_refused(tmp_path):
    _images(tmp_path / 'imgs', ['a/1.jpg'])
    ann = _write(tmp_path / 'train.csv',
                 'image,labels,negatives\na/1.jpg,cat dog,dog\n')
    with pytest.raises(DatasetError, match=r"train.csv:2: 'dog' is listed "
                       'both'):
        CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'),
                      unlisted='unknown')


def test_unknown_mode_without_negatives_column_knows_only_positives(
        tmp_path):
    from mlic.structures.label_states import label_states
    _images(tmp_path / 'imgs', ['a/1.jpg'])
    ann = _write(tmp_path / 'train.csv', 'image,labels\na/1.jpg,cat\n')
    ds = CsvMultiLabel(ann_file=ann, data_prefix=str(tmp_path / 'imgs'),
                       classes=['cat', 'dog'], unlisted='unknown')
    info = ds.get_data_info(0)
    assert label_states(info, np.array([True, False])).tolist() == [1, -1]
