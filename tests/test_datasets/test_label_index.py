"""LabelIndex: the packed rows give back every row, subsets and repeats
(unit: no file)."""
import numpy as np

from mlic.datasets.label_index import LabelIndexBuilder


def _index(rows, remap=None):
    builder = LabelIndexBuilder()
    for path, labels, ignored in rows:
        builder.add(path, labels, ignored)
    return builder.build(remap)


ROWS = [('a.jpg', [2, 0, 2], []), ('b/é.jpg', [], [1]),
        ('c.jpg', [1], [0, 2]), ('a.jpg', [0], [])]


def test_every_row_comes_back():
    index = _index(ROWS)
    assert len(index) == 4
    assert [index.path(i) for i in range(4)] == [r[0] for r in ROWS]
    assert [index.labels_of(i).tolist() for i in range(4)] == \
        [[0, 2], [], [1], [0]]  # sorted, unique
    assert [index.ignored_of(i).tolist() for i in range(4)] == \
        [[], [1], [0, 2], []]
    assert index.label_matrix(3).tolist() == [
        [True, False, True], [False, False, False], [False, True, False],
        [True, False, False]]
    assert index.nbytes == sum(a.nbytes for a in (
        index.paths, index.path_offsets, index.labels, index.label_offsets,
        index.ignored, index.ignored_offsets))


def test_remap_subset_and_repeats():
    index = _index(ROWS, remap=np.array([2, 0, 1]))  # provisional -> sorted
    assert index.labels_of(0).tolist() == [1, 2]
    sub = index.subset([2, 0])
    assert [sub.path(i) for i in range(2)] == ['c.jpg', 'a.jpg']
    assert sub.ignored_of(0).tolist() == [1, 2]
    assert index.duplicates() == [(0, 3)]
    assert sub.duplicates() == []


def test_repeats_under_a_key():
    builder = LabelIndexBuilder()
    builder.add('a.jpg', [0])
    builder.add('./a.jpg', [1], key='a.jpg')  # the same file, written so
    builder.add('b.jpg', [1])
    index = builder.build()
    assert index.duplicates(key=lambda p: p.lstrip('./')) == [(0, 1)]


def test_duplicates_are_found_across_colliding_hashes():
    """Rows 0 and 2 share a path; row 1, between them in hash order, has
    another path with the same (forced) hash: still one pair, (0, 2); a
    third copy pairs with the first row."""
    builder = LabelIndexBuilder()
    for path in ('a.jpg', 'b.jpg', 'a.jpg', 'a.jpg'):
        builder.add(path, [0])
    index = builder.build()
    index.path_hashes = np.zeros(4, np.int64)
    assert index.duplicates() == [(0, 2), (0, 3)]
