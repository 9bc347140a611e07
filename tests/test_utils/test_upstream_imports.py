"""mlic imports beside a current transformers and without mmcv-lite noise.

The test environment installs transformers >= 5 (requirements/tests.txt),
the release line with which MMPretrain 1.2's own ``import mmpretrain.models``
fails; each check runs in a fresh interpreter so that nothing imported by
the test session hides the real import order.
"""
import importlib.metadata
import subprocess
import sys

import pytest

from mlic.upstream.imports import TRANSFORMERS_BREAKING_MAJOR

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it


def _python(code):
    return subprocess.run([sys.executable, '-W', 'default', '-c', code],
                          capture_output=True, text=True, timeout=300)


def test_environment_reproduces_the_upstream_failure():
    """Without mlic, MMPretrain's models do not import here: the fix below
    is tested against the real failure, not a stand-in."""
    major = int(importlib.metadata.version('transformers').split('.')[0])
    assert major >= TRANSFORMERS_BREAKING_MAJOR
    proc = _python('import mmpretrain.models')
    assert proc.returncode != 0
    assert 'NoneType takes no arguments' in proc.stderr


def test_mlic_imports_registers_and_builds_beside_transformers():
    proc = _python(
        'import warnings\n'
        'import mlic\n'
        'from mlic.utils import register_all_modules\n'
        'from mlic.upstream.imports import multimodal_switched_off\n'
        'register_all_modules()\n'
        'from mlic.registry import MODELS\n'
        'model = MODELS.build(dict(type="ImageClassifier",\n'
        '    backbone=dict(type="ResNet", depth=18, num_stages=1, strides=(1,),\n'
        '                  dilations=(1,),\n'
        '                  out_indices=(0,)),\n'
        '    neck=dict(type="IRPETransformerEncoder", in_channels=64,\n'
        '              embed_dims=32, num_heads=2, feat_size=4),\n'
        '    head=dict(type="QueryDecoderHead", num_classes=3,\n'
        '              in_channels=32, num_heads=2)))\n'
        'assert multimodal_switched_off()\n'
        'try:\n'
        '    MODELS.build(dict(type="BlipCaption"))\n'
        'except ImportError as e:\n'
        '    print("ERR", e)\n'
        'flt = [f for f in warnings.filters\n'
        '       if f[1] is not None and "Deformable" in f[1].pattern]\n'
        'print("FILTERS", len(flt))\n')
    assert proc.returncode == 0, proc.stderr
    # the placeholder names the model and the cause
    assert ('ERR BlipCaption is one of MMPretrain 1.2\'s multimodal models'
            in proc.stdout)
    assert 'transformers<5' in proc.stdout
    # mmcv-lite's op warning is not printed, and no global filter is left
    assert 'MultiScaleDeformableAttention' not in proc.stderr
    assert 'FILTERS 0' in proc.stdout


def test_only_mlic_import_is_quiet():
    """The warning is hidden for mlic's import, not everywhere: importing
    mmcv's bricks directly still warns (the test would pass vacuously if
    the installed mmcv had stopped warning)."""
    proc = _python('import mmcv.cnn.bricks.transformer')
    assert 'MultiScaleDeformableAttention' in proc.stderr
