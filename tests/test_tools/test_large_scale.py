"""Beyond the paper's scale: grouped label queries through every tool, and
tagging an archive with worker processes and several processes."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import (REPO, free_port, load_tool, run_tool,
                      write_random_images)

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')


@pytest.fixture(scope='module')
def grouped(tmp_path_factory):
    """tiny_q2l with 4 grouped queries for its 12 classes (random weights),
    and 9 images."""
    from mlic.apis import MultiLabelInferencer
    from mlic.utils import load_config
    root = tmp_path_factory.mktemp('grouped')
    cfg_path = root / 'grouped.py'
    cfg_path.write_text(f'_base_ = [{TINY_Q2L!r}]\n'
                        'model = dict(head=dict(num_queries=4))\n')
    torch.manual_seed(0)
    infer = MultiLabelInferencer(load_config(str(cfg_path)), device='cpu')
    assert infer.model.head.query_embed.shape[0] == 4
    ckpt = str(root / 'grouped.pth')
    torch.save(dict(state_dict=infer.model.state_dict()), ckpt)
    images = write_random_images(root / 'images',
                                 [f'{k}.jpg' for k in range(9)], (30, 40),
                                 seed=1)
    return dict(root=root, cfg=str(cfg_path), ckpt=ckpt, images=images)


def _read(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_grouped_head_in_onnx_and_attention_maps(grouped, tmp_path):
    report = load_tool('deployment/export_onnx').main(
        [grouped['cfg'], grouped['ckpt'], '--out', str(tmp_path / 'g.onnx'),
         '--dynamic-batch', '--verify', osp.join(grouped['images'], '0.jpg')])
    assert max(report.values()) < 1e-4
    written = load_tool('visualization/vis_attention').main(
        [grouped['cfg'], grouped['ckpt'], grouped['images'], '--out-dir',
         str(tmp_path / 'maps'), '--topk', '3'])
    assert len(written) == 9
    from mlic.apis import MultiLabelInferencer
    infer = MultiLabelInferencer(grouped['cfg'], grouped['ckpt'],
                                 device='cpu')
    out = infer.attention(osp.join(grouped['images'], '0.jpg'))
    maps = out['maps']
    assert maps.shape[0] == 12  # one map per class: its group's (3 a group)
    np.testing.assert_array_equal(maps[0], maps[2])
    assert not np.array_equal(maps[2], maps[3])


def test_infer_workers_and_processes_give_one_result(grouped, tmp_path):
    """--workers 2 and dist_infer.sh with 2 processes (parts merged in
    input order) write what one process writes."""
    base = [grouped['cfg'], grouped['ckpt'], grouped['images'],
            '--device', 'cpu', '--batch-size', '2']
    infer = load_tool('infer')
    infer.main(base + ['--out', str(tmp_path / 'a.jsonl')])
    infer.main(base + ['--out', str(tmp_path / 'b.jsonl'), '--workers', '2'])
    run_tool(['tools/dist_infer.sh', grouped['cfg'], grouped['ckpt'], '2',
              grouped['images'], '--device', 'cpu', '--out',
              str(tmp_path / 'dist')], cwd=tmp_path,
             env=dict(PORT=free_port()))
    one = _read(tmp_path / 'a.jsonl')
    assert len(one) == 9
    for other in (_read(tmp_path / 'b.jsonl'),
                  _read(tmp_path / 'dist' / 'predictions.jsonl')):
        assert [r['img_path'] for r in other] == [r['img_path'] for r in one]
        for a, b in zip(one, other):
            assert a['scores'] == pytest.approx(b['scores'], abs=1e-6)
    infer.main(base + ['--out', str(tmp_path / 'c.jsonl'), '--only-predicted',
                       '--thr', '0.4'])
    short = _read(tmp_path / 'c.jsonl')
    assert all(set(r) == {'img_path', 'pred_labels', 'pred_scores'}
               for r in short)
    assert [r['pred_labels'] for r in short] == [
        [c for c, v in sorted(r['scores'].items(), key=lambda x: -x[1])
         if v >= 0.4] for r in one]
    parts = sorted(p.name for p in (tmp_path / 'dist').iterdir())
    # each part with the record of its run (a --resume checks it)
    assert parts == ['part-00000-of-00002.jsonl',
                     'part-00000-of-00002.jsonl.run.json',
                     'part-00001-of-00002.jsonl',
                     'part-00001-of-00002.jsonl.run.json', 'predictions.jsonl']
