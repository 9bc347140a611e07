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


@pytest.mark.parametrize('resume', [True, False])
def test_dist_infer_refuses_parts_of_another_process_count(grouped, tmp_path,
                                                           resume):
    """Parts of an unfinished 3-process run, then dist_infer.sh with 2: it
    refuses with the reason (no image scored again, nothing new beside
    them); with 3 processes --resume would continue."""
    out = tmp_path / 'dist'
    out.mkdir()
    old = ['part-00000-of-00003.jsonl.partial', 'part-00001-of-00003.jsonl',
           'part-00000-of-00003.jsonl.run.json']
    for name in old:
        (out / name).write_text('')
    res = run_tool(['tools/dist_infer.sh', grouped['cfg'], grouped['ckpt'],
                    '2', grouped['images'], '--device', 'cpu', '--out',
                    str(out)] + (['--resume'] if resume else []),
                   cwd=tmp_path, check=False, timeout=300)
    assert res.returncode != 0
    assert 'holds the parts of an unfinished run over 3 processes' in \
        res.stderr
    assert 'this run has 2' in res.stderr
    assert ('--resume continues only a run over the same number' in
            res.stderr) == resume
    assert 'dist_infer.sh ... 3 ... --resume' in res.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(old)


def test_dist_infer_says_which_port_is_taken(grouped, tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        res = run_tool(['tools/dist_infer.sh', grouped['cfg'],
                        grouped['ckpt'], '2', grouped['images'], '--out',
                        str(tmp_path / 'd')], cwd=tmp_path,
                       env=dict(PORT=port), check=False, timeout=60)
    assert res.returncode != 0
    assert f'port {port} is in use' in res.stderr
    assert 'PORT=29501 bash' in res.stderr and 'dist_infer.sh' in res.stderr
    assert 'Traceback' not in res.stderr
