"""mlic.utils.optional.require: the module, or an ImportError that starts
with what to install."""
import json
import os.path

import pytest

from mlic.utils.optional import require


def test_returns_the_modules_asked_for():
    assert require('json', hint='x') is json
    a, b = require('os', 'os.path', hint='x')
    assert a.sep == os.sep and b is os.path


def test_missing_module_names_the_fix():
    with pytest.raises(ImportError) as err:
        require('json', 'mlic_no_such_module_x', hint='pip install -e ".[x]"')
    msg = str(err.value)
    assert msg.startswith('pip install -e ".[x]" (')
    assert 'mlic_no_such_module_x' in msg
    with pytest.raises(TypeError):
        require(hint='x')
