"""Threshold files: every value a number in [0, 1], named when not."""
import json

import pytest

from mlic.evaluation import ThresholdError, read_threshold_file


@pytest.mark.parametrize('value,shown', [('high', "'high'"), (1.5, '1.5'),
                                         (None, 'None'), (True, 'True')])
def test_a_bad_value_names_the_file_and_the_class(tmp_path, value, shown):
    path = tmp_path / 'thr.json'
    path.write_text(json.dumps({'thresholds': {'cat': 0.3, 'dog': value}}))
    with pytest.raises(ThresholdError, match=f"thr.json: the threshold of "
                       f"class 'dog' is {shown}"):
        read_threshold_file(str(path))


def test_both_layouts_and_a_byte_order_mark(tmp_path):
    path = tmp_path / 'thr.json'
    path.write_bytes(b'\xef\xbb\xbf' + json.dumps({'cat': 0.25}).encode())
    assert read_threshold_file(str(path)) == {'cat': 0.25}
