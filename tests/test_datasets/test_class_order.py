"""The class-order check: equal lists pass; another order, missing or
extra names are said in words (unit)."""
import pytest

from mlic.datasets.class_order import (ClassOrderError, check_class_order,
                                       class_order_mismatch,
                                       classes_file_hint)


def test_equal_lists_pass():
    assert class_order_mismatch(['a', 'b'], ('a', 'b')) is None
    check_class_order(['a'], 'x', ['a'], 'y', 'fix')


def test_another_order_names_the_positions():
    msg = class_order_mismatch(['cat', 'dog', 'bird'], ['bird', 'dog', 'cat'])
    assert msg == ("have the same 3 names in another order (2 positions "
                   "differ; #0: 'cat' vs 'bird', #2: 'bird' vs 'cat')")


def test_missing_and_extra_names():
    msg = class_order_mismatch(['cat', 'dog', 'bird'], ['cat', 'dog', 'zebra'])
    assert msg == ("differ: 3 names against 3; they lack 1 (['bird']) and "
                   "add 1 (['zebra'])")
    with pytest.raises(ClassOrderError, match=r'the classes of the val '
                       r'split differ: .* compared with the checkpoint: '
                       r'every score column .* one file'):
        check_class_order(['cat', 'dog', 'bird'], 'the checkpoint',
                          ['cat', 'dog', 'zebra'], 'the val split',
                          'one file')


def test_large_lists_are_said_in_short():
    a = [f'c{k}' for k in range(20000)]
    b = a[1:] + ['new']
    msg = class_order_mismatch(a, b)
    assert msg.startswith('differ: 20000 names against 20000; they lack 1 '
                          "(['c0']) and add 1 (['new'])")
    assert "'c0', 'c1', 'c2', 'c3', ..." in classes_file_hint(a)
