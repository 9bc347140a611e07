"""The stages mlic gives Ray Data (mlic.apis.ray_tagging), run here as
plain functions: what a decoding task and a model actor return, the
resource check, the summary and the skipped-images file. (Ray itself:
tests/test_tools/test_ray_tagging.py.)"""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO, write_random_images
from mlic.apis import MultiLabelInferencer
from mlic.apis.ray_tagging import (ClusterTooSmallError, Scorer,
                                   check_resources, decode_batch,
                                   summary_line, write_skipped)
from mlic.apis.result_files import format_line
from mlic.utils import load_config

CFG = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp('stages')
    torch.manual_seed(0)
    infer = MultiLabelInferencer(CFG, device='cpu', thresholds=0.45)
    ckpt = str(root / 'm.pth')
    torch.save(dict(state_dict=infer.model.state_dict()), ckpt)
    images = write_random_images(root / 'im', ['a.jpg', 'b.jpg', 'c.jpg'],
                                 (30, 40))
    (root / 'im' / 'bad.jpg').write_text('no image')
    paths = [osp.join(images, n) for n in ('a.jpg', 'bad.jpg', 'b.jpg',
                                           'c.jpg')]
    return dict(ckpt=ckpt, paths=paths, cfg=load_config(CFG))


def test_decode_then_score_gives_infer_py_lines(model):
    batch = dict(idx=np.arange(4), img_path=np.array(model['paths']))
    decoded = decode_batch(batch, model['cfg'], 'k')
    assert [bool(e) for e in decoded['error']] == [False, True, False, False]
    assert decoded['error'][1].startswith('BadImageError')
    assert decoded['prepared'][1] is None
    assert decoded['decode_s'].shape == (4, )
    infer = MultiLabelInferencer(CFG, model['ckpt'], device='cpu',
                                 thresholds=0.45)
    for fmt in ('.jsonl', '.csv'):
        scorer = Scorer(model['cfg'], model['ckpt'], 'cpu', None, None,
                        thresholds=[0.45] * infer.num_classes, topk=None,
                        only_predicted=fmt == '.jsonl', line_format=fmt)
        out = scorer(decoded)
        assert out['line'][1] == ''
        want = [r for b in infer.iter_batches(
            [p for p in model['paths'] if 'bad' not in p], 3,
            on_error='skip') for r in b]
        got = [out['line'][k] for k in (0, 2, 3)]
        for line, r in zip(got, want):
            if fmt == '.jsonl':
                row = json.loads(line)
                assert 'scores' not in row  # only_predicted
                assert row['pred_labels'] == r['pred_labels']
                assert row['pred_scores'] == pytest.approx(r['pred_scores'],
                                                           abs=1e-6)
            else:
                assert line.split(',')[0] == r['img_path']
                assert line.rstrip('\r\n').split(',')[-1] == \
                    ' '.join(r['pred_labels'])
    scorer = Scorer(model['cfg'], model['ckpt'], 'cpu', None, None)
    out = scorer(decoded)
    assert out['scores'].shape == (4, infer.num_classes)
    assert not out['scores'][1].any()
    np.testing.assert_allclose(out['scores'][[0, 2, 3]], np.array(
        [[r['scores'][c] for c in infer.classes] for r in want]), atol=1e-6)
    assert format_line(want[0], '.jsonl', infer.classes).endswith('\n')


def test_a_cluster_too_small_is_refused():
    check_resources(dict(CPU=3, GPU=2), 2, 1, 1, 3)  # fits exactly
    with pytest.raises(ClusterTooSmallError,
                       match='needs 4 GPUs; the Ray cluster has 2'):
        check_resources(dict(CPU=64, GPU=2), 4, 1, 1, 5)
    with pytest.raises(ClusterTooSmallError,
                       match='need 3 CPUs; the Ray cluster has 2'):
        check_resources(dict(CPU=2), 2, 1, 0, 3)


def test_summary_and_skipped_file(tmp_path):
    line = summary_line(dict(images=90, skipped=2, wall_s=10.0, startup_s=3,
                             decode_s=6.0, model_s=2.0))
    assert line == ('ray: 90 images, 2 skipped, 10.0 s (9.0 img/s, Ray '
                    'start-up 3.0 s); worker time 75% decode, 25% model')
    path = str(tmp_path / 'p.jsonl.skipped.tsv')
    write_skipped(path, [('a b.jpg', 'BadImageError: not\ta\nreadable')])
    with open(path) as f:
        assert f.read() == ('img_path\treason\n'
                            'a b.jpg\tBadImageError: not a readable\n')
