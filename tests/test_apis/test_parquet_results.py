"""Parquet predictions (infer.py --out x.parquet, also the Ray engine's):
shards while the run works, one file at the end, a resume that scores
again only what no shard holds, the same values as the JSONL output."""
import json
import os.path as osp

import numpy as np
import pytest

pa = pytest.importorskip('pyarrow', reason='pip install -e ".[ray]"')

from conftest import REPO, load_tool, write_random_images  # noqa: E402
from mlic.apis.parquet_results import (ParquetResultWriter,  # noqa: E402
                                       read_parquet_predictions)
from mlic.apis.tagging import RunMismatchError, open_writer  # noqa: E402
from mlic.apis.tagging import run_identity  # noqa: E402

CLASSES = ['cat', 'dog', 'bird']


def _result(k):
    s = [k / 10, 0.5, 1 - k / 10]
    chosen = [c for c, v in zip(CLASSES, s) if v >= 0.5]
    return dict(img_path=f'{k}.jpg', scores=dict(zip(CLASSES, s)),
                pred_labels=chosen,
                pred_scores=[v for v in s if v >= 0.5])


def _run(tmp_path, thr=0.5):
    ckpt = tmp_path / 'a.pth'
    ckpt.write_bytes(b'weights')
    return run_identity(str(ckpt), 'model = dict()', CLASSES, [thr] * 3,
                        [f'{k}.jpg' for k in range(10)], topk=None)


def test_killed_run_resumes_from_its_shards(tmp_path):
    out = str(tmp_path / 'p.parquet')
    w = open_writer(out, CLASSES, run=_run(tmp_path))
    assert isinstance(w, ParquetResultWriter)
    w.rows_per_shard = 3
    w.write([_result(k) for k in range(7)])
    assert w.count == 6  # two shards written; row 6 only in memory
    w.close()  # a kill: the shards stay, the unfinished one is lost
    # a shard cut while it was written is dropped on resume
    (tmp_path / 'p.parquet.partial' / 'shard-000002.parquet.tmp').write_text(
        'cut')
    with pytest.raises(RunMismatchError, match='thresholds'):
        open_writer(out, CLASSES, resume=True, run=_run(tmp_path, 0.3))
    w = open_writer(out, CLASSES, resume=True, run=_run(tmp_path))
    assert w.done == {f'{k}.jpg' for k in range(6)}
    w.write([_result(k) for k in range(6, 10)])
    w.finish()
    assert not osp.exists(out + '.partial')
    classes, table = read_parquet_predictions(out)
    assert classes == CLASSES
    assert table.column('img_path').to_pylist() == \
        [f'{k}.jpg' for k in range(10)]
    scores = np.array(table.column('scores').to_pylist())
    np.testing.assert_allclose(scores[:, 0], np.arange(10) / 10, atol=1e-7)
    assert table.schema.field('scores').type == pa.list_(pa.float32(), 3)
    # image 9: cat 0.9, dog 0.5, bird 0.1 at threshold 0.5
    assert table.column('pred_labels').to_pylist()[9] == ['cat', 'dog']


def test_infer_parquet_holds_the_jsonl_values(tmp_path):
    images = write_random_images(tmp_path / 'im', [f'{k}.jpg' for k in
                                                   range(5)], (30, 40))
    cfg = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')
    infer = load_tool('infer')
    base = [cfg, images, '--device', 'cpu', '--batch-size', '2']
    import torch
    from mlic.apis import MultiLabelInferencer
    torch.manual_seed(0)
    model = MultiLabelInferencer(cfg, device='cpu')
    ckpt = str(tmp_path / 'm.pth')
    torch.save(dict(state_dict=model.model.state_dict()), ckpt)
    base.insert(1, ckpt)
    infer.main(base + ['--out', str(tmp_path / 'p.jsonl')])
    infer.main(base + ['--out', str(tmp_path / 'p.parquet')])
    with open(tmp_path / 'p.jsonl') as f:
        rows = [json.loads(line) for line in f]
    classes, table = read_parquet_predictions(str(tmp_path / 'p.parquet'))
    assert classes == model.classes
    assert table.column('img_path').to_pylist() == [r['img_path']
                                                    for r in rows]
    assert table.column('pred_labels').to_pylist() == [r['pred_labels']
                                                       for r in rows]
    np.testing.assert_allclose(
        np.array(table.column('scores').to_pylist()),
        [[r['scores'][c] for c in classes] for r in rows], atol=1e-7)
    infer.main(base + ['--out', str(tmp_path / 'q.parquet'),
                       '--only-predicted'])
    _, short = read_parquet_predictions(str(tmp_path / 'q.parquet'))
    assert short.column_names == ['img_path', 'pred_labels', 'pred_scores']


def test_image_lists_in_every_format(tmp_path):
    from mlic.apis import read_image_list
    from mlic.apis.inputs import ImageInputError
    sub = tmp_path / 'lists'
    sub.mkdir()
    (sub / 'a.txt').write_text('# the archive\nx/1.jpg\n\n/abs/2.jpg\n')
    want = [str(sub / 'x' / '1.jpg'), '/abs/2.jpg']
    assert read_image_list(str(sub / 'a.txt')) == want
    (sub / 'b.csv').write_text('id,img_path\n7,x/1.jpg\n8,/abs/2.jpg\n')
    assert read_image_list(str(sub / 'b.csv')) == want
    (sub / 'c.csv').write_text('x/1.jpg,3\n/abs/2.jpg,4\n')
    assert read_image_list(str(sub / 'c.csv')) == want
    import pyarrow.parquet as pq
    pq.write_table(pa.table(dict(path=['x/1.jpg', '/abs/2.jpg'],
                                 n=[1, 2])), str(sub / 'd.parquet'))
    assert read_image_list(str(sub / 'd.parquet')) == want
    pq.write_table(pa.table(dict(n=[1])), str(sub / 'e.parquet'))
    with pytest.raises(ImageInputError, match='e.parquet: no column'):
        read_image_list(str(sub / 'e.parquet'))
    with pytest.raises(ImageInputError, match='.txt'):
        read_image_list(str(sub / 'f.json'))


def test_infer_reads_a_list(tmp_path):
    """--list: the images a list names, in its order, as if named."""
    images = write_random_images(tmp_path / 'im', ['a.jpg', 'b.jpg'],
                                 (30, 40))
    (tmp_path / 'l.txt').write_text('im/b.jpg\nim/a.jpg\n')
    cfg = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')
    results = load_tool('infer').main(
        [cfg, _ckpt(tmp_path, cfg), '--list', str(tmp_path / 'l.txt'),
         '--device', 'cpu'])
    assert [r['img_path'] for r in results] == [
        osp.join(images, 'b.jpg'), osp.join(images, 'a.jpg')]


def _ckpt(tmp_path, cfg):
    import torch
    from mlic.apis import MultiLabelInferencer
    torch.manual_seed(0)
    model = MultiLabelInferencer(cfg, device='cpu')
    path = str(tmp_path / 'm.pth')
    torch.save(dict(state_dict=model.model.state_dict()), path)
    return path


@pytest.mark.parametrize('topk,only_predicted', [(None, False), (2, False),
                                                 (None, True)])
def test_rows_from_a_score_array_equal_rows_from_result_dicts(
        tmp_path, topk, only_predicted):
    """write_scores (the Ray driver's path: no dict per image) writes the
    same file as write() of MultiLabelInferencer.result of each image:
    per-class thresholds, ties in class order, top-k, only_predicted;
    the pending rows cross shard boundaries in chunks of any size."""
    from types import SimpleNamespace

    from mlic.apis.inferencer import MultiLabelInferencer
    rng = np.random.default_rng(0)
    classes = [f'c{i}' for i in range(7)]
    scores = np.round(rng.random((23, 7)), 1).astype(np.float32)  # ties
    thr = np.array([0.5, 0.3, 0.9, 0.5, 0.0, 1.0, 0.6])
    fake = SimpleNamespace(classes=classes, thresholds=thr)
    paths = [f'{k}.jpg' for k in range(23)]
    dicts = []
    for p, s in zip(paths, scores):
        r = MultiLabelInferencer.result(fake, p, s, topk)
        if only_predicted:
            r.pop('scores')
        dicts.append(r)
    tables = []
    for name, how in (('a', 'dicts'), ('b', 'arrays')):
        w = ParquetResultWriter(str(tmp_path / f'{name}.parquet'), classes)
        w.rows_per_shard = 5
        for lo, hi in ((0, 3), (3, 11), (11, 12), (12, 23)):
            if how == 'dicts':
                w.write(dicts[lo:hi])
            else:
                w.write_scores(paths[lo:hi], scores[lo:hi], thr, topk,
                               only_predicted)
        w.finish()
        tables.append(read_parquet_predictions(w.path)[1])
    assert tables[0].equals(tables[1])
    assert tables[1].column('pred_labels').to_pylist() == \
        [r['pred_labels'] for r in dicts]
    assert ('scores' in tables[1].column_names) is not only_predicted
