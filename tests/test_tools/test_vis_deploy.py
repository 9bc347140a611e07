"""Attention maps, result plots, label statistics, TensorBoard logging and
ONNX export, each run as a user runs it on a tiny trained model."""
import csv
import glob
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, load_tool, web_demo_server
from mlic.evaluation import load_predictions

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')
LOADERS = ['train_dataloader.num_workers=0',
           'train_dataloader.persistent_workers=False']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp('tiny_q2l')
    load_tool('train').main([TINY_Q2L, '--work-dir', str(work),
                             '--cfg-options', 'train_cfg.max_epochs=1']
                            + LOADERS)
    ckpt = str(work / 'epoch_1.pth')
    preds = str(work / 'preds.npz')
    metrics = load_tool('test').main([TINY_Q2L, ckpt, '--work-dir',
                                      str(work), '--out', preds,
                                      '--per-class'])
    dumped = load_predictions(preds)
    return dict(work=work, ckpt=ckpt, preds=preds, metrics=metrics,
                dumped=dumped)


def _png(path):
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, f'{path} is not a readable PNG'
    return img


def test_attention_maps(trained, tmp_path):
    images = trained['dumped']['img_paths'][:2]
    out = tmp_path / 'att'
    tool = load_tool('visualization/vis_attention')
    written = tool.main([TINY_Q2L, trained['ckpt']] + images + [
        '--out-dir', str(out), '--topk', '3', '--gt-split', 'val'])
    assert len(written) == 2
    assert sorted(osp.basename(p) for p in glob.glob(str(out / '*.png'))) \
        == sorted(osp.splitext(osp.basename(p))[0] + '.png' for p in images)
    # the image (square here) + 3 panels of 2.8 in at 100 dpi and their
    # colour bars, 3.7 in high
    assert _png(written[0]).shape[:2] == (370, 1330)
    named = tool.main(
        [TINY_Q2L, trained['ckpt'], images[0], '--out-dir', str(out / 'n'),
         '--labels', 'circle', 'star'])
    assert _png(named[0]).shape[:2] == (370, 980)
    # the ground truth of --gt-split: the images' own labels
    from mlic.utils import load_config
    truth = tool.ground_truth(load_config(TINY_Q2L), 'val')
    row = trained['dumped']['img_paths'].index(images[0])
    assert truth[osp.abspath(images[0])] == {
        c for c, t in zip(trained['dumped']['classes'],
                          trained['dumped']['targets'][row]) if t == 1}
    # the maps are the head's own: one distribution per label query
    from mlic.apis import MultiLabelInferencer
    infer = MultiLabelInferencer(TINY_Q2L, trained['ckpt'], device='cpu')
    att = infer.attention(images[0])
    assert att['maps'].shape == (12, 2, 2)  # 32 px / stride 16
    np.testing.assert_allclose(att['maps'].sum(axis=(1, 2)), 1.0, atol=1e-5)
    row = trained['dumped']['img_paths'].index(images[0])
    np.testing.assert_allclose(att['scores'],
                               trained['dumped']['scores'][row], atol=1e-5)
    assert att['image'].shape == (32, 32, 3)
    # the original image, at its own size, is what the figure shows
    np.testing.assert_array_equal(att['original'],
                                  cv2.imread(images[0])[..., ::-1])
    with pytest.raises(ValueError, match='layer=5'):
        infer.attention(images[0], layer=5)


def test_plot_results(trained, tmp_path):
    out = tmp_path / 'plots'
    result = load_tool('analysis_tools/plot_results').main(
        [trained['preds'], '--out-dir', str(out)])
    for name in ('ap_per_class', 'pr_curves', 'score_hist'):
        assert _png(out / f'{name}.png').ndim == 3
        assert (out / f'{name}.csv').exists()
    rows = list(csv.DictReader(open(out / 'ap_per_class.csv')))
    by_class = {r['class']: r['AP'] for r in rows}
    # the metric's per-class AP (tools/test.py --per-class wrote it)
    written = json.load(open(trained['work'] / 'per_class_ap_epoch_1.json'))
    for name, ap in written['AP'].items():
        if ap is None:
            assert by_class[name] == ''
        else:
            assert float(by_class[name]) == pytest.approx(ap, abs=1e-3)
    assert float(by_class['mAP']) == pytest.approx(
        trained['metrics']['mAP'], abs=1e-3)
    assert result['mAP'] == pytest.approx(trained['metrics']['mAP'])
    hist = list(csv.DictReader(open(out / 'score_hist.csv')))
    targets = trained['dumped']['targets']
    assert sum(int(h['positives']) for h in hist) == int((targets == 1).sum())
    assert sum(int(h['negatives']) for h in hist) == int((targets == 0).sum())
    pr = list(csv.DictReader(open(out / 'pr_curves.csv')))
    assert len(pr) == 101 * sum(v is not None for v in written['AP'].values())


def test_label_stats(trained, tmp_path):
    out = tmp_path / 'stats'
    result = load_tool('analysis_tools/label_stats').main(
        [TINY_Q2L, '--split', 'val', '--out-dir', str(out), '--preds',
         trained['preds']])
    targets = (trained['dumped']['targets'] == 1).astype(int)
    np.testing.assert_array_equal(result['freq'], targets.sum(axis=0))
    np.testing.assert_array_equal(result['cooccurrence'],
                                  targets.T @ targets)
    present = targets.sum(axis=0) > 0
    np.testing.assert_allclose(np.diag(result['conditional'])[present], 1.0)
    i, j = np.argwhere(targets.T @ targets > 0)[0]
    assert result['conditional'][i, j] == pytest.approx(
        (targets[:, i] & targets[:, j]).sum() / targets[:, i].sum())
    assert result['per_image'].sum() == len(targets)
    for name in ('label_freq', 'labels_per_image', 'cooccurrence'):
        assert _png(out / f'{name}.png').ndim == 3
    # the predicted matrix beside the true one: twice as wide
    assert _png(out / 'cooccurrence.png').shape[1] > \
        1.8 * _png(out / 'cooccurrence.png').shape[0]
    assert (out / 'cooccurrence_predicted_conditional.csv').exists()


def test_tensorboard_is_one_config_line(tmp_path):
    cfg = tmp_path / 'tb.py'
    cfg.write_text(f'_base_ = [{TINY_Q2L!r}]\n'
                   "visualizer = dict(vis_backends=[dict(type='LocalVis"
                   "Backend'), dict(type='TensorboardVisBackend')])\n")
    load_tool('train').main([str(cfg), '--work-dir', str(tmp_path / 'w'),
                             '--cfg-options', 'train_cfg.max_epochs=1']
                            + LOADERS)
    events = glob.glob(str(tmp_path / 'w' / '*' / 'vis_data' / '**' /
                           'events.out.tfevents.*'), recursive=True)
    assert events, 'no TensorBoard event file'


def test_onnx_export_matches_pytorch(trained, tmp_path):
    out = str(tmp_path / 'demo.onnx')
    image = trained['dumped']['img_paths'][0]
    report = load_tool('deployment/export_onnx').main(
        [TINY_Q2L, trained['ckpt'], '--out', out, '--dynamic-batch',
         '--verify', image])
    assert set(report) == {'random, batch 1', 'random, batch 3',
                           f'image {image}'}
    assert max(report.values()) <= 1e-4, report
    import onnx
    graph = onnx.load(out).graph
    assert [i.name for i in graph.input] == ['images']
    assert [o.name for o in graph.output] == ['scores']
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == 'batch' and [d.dim_value for d in dims[1:]] \
        == [3, 32, 32]
    # the file alone, as a deployment would run it, on the pipeline's pixels
    from mlic.apis import MultiLabelInferencer
    from mlic.deployment import onnx_scores
    infer = MultiLabelInferencer(TINY_Q2L, trained['ckpt'], device='cpu')
    rgb = cv2.resize(cv2.imread(image), (32, 32))[..., ::-1]
    scores = onnx_scores(out, rgb.transpose(2, 0, 1)[None].astype(np.float32))
    row = trained['dumped']['img_paths'].index(image)
    np.testing.assert_allclose(scores[0], trained['dumped']['scores'][row],
                               atol=1e-4)
    del infer


def test_onnx_export_of_the_paper_config(tmp_path):
    """coco_r101_448.py, shrunk (ResNet-18, 64-d transformer, 64 px)."""
    from mlic.registry import MODELS
    from mlic.utils import load_config, register_all_modules
    register_all_modules()
    opts = {'model.backbone.depth': 18,
            'model.backbone.init_cfg': None,
            'model.neck.in_channels': 512, 'model.neck.embed_dims': 64,
            'model.neck.feedforward_channels': 128, 'model.neck.feat_size': 2,
            'model.head.in_channels': 64,
            'model.head.feedforward_channels': 128}
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'coco_r101_448.py')
    cfg = load_config(config, opts)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'r18.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    args = [config, ckpt, '--out', str(tmp_path / 'r101.onnx'),
            '--dynamic-batch', '--shape', '64', '64', '--verify',
            '--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]
    report = load_tool('deployment/export_onnx').main(args)
    assert set(report) == {'random, batch 1', 'random, batch 3'}
    assert max(report.values()) <= 1e-4, report


NO_TORCH = ('import runpy, sys\n'
            "for name in ('torch', 'mlic', 'cv2', 'mmengine', 'mmcv'):\n"
            '    sys.modules[name] = None  # importing it fails\n'
            'sys.argv = sys.argv[1:]\n'
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def _gap_thresholds(scores, classes):
    """Per class, the middle of the widest gap between the images' scores:
    no score sits near a threshold, so tiny resize differences cannot flip
    a label."""
    out = {}
    for c, name in enumerate(classes):
        s = np.sort(np.r_[0.0, scores[:, c], 1.0])
        k = int(np.argmax(np.diff(s)))
        out[name] = float((s[k] + s[k + 1]) / 2)
    return out


def test_onnx_model_deploys_without_pytorch(trained, tmp_path):
    """The .onnx carries classes, thresholds, input size and resize rule;
    onnx_infer.py (onnxruntime, numpy, Pillow; torch, mlic and OpenCV
    unimportable) gives tools/infer.py's labels on the same images."""
    import subprocess
    import sys
    from conftest import run_tool
    from mlic.deployment import read_metadata
    out = str(tmp_path / 'demo.onnx')
    images = sorted(trained['dumped']['img_paths'])[:6]
    dumped = trained['dumped']
    rows = [dumped['img_paths'].index(p) for p in images]
    thr = _gap_thresholds(np.asarray(dumped['scores'])[rows],
                          dumped['classes'])
    thr_file = tmp_path / 'thr.json'
    thr_file.write_text(json.dumps({'thresholds': thr}))
    load_tool('deployment/export_onnx').main(
        [TINY_Q2L, trained['ckpt'], '--out', out, '--dynamic-batch',
         '--thr-file', str(thr_file)])
    meta = read_metadata(out)
    assert meta['classes'] == dumped['classes']
    assert meta['thresholds'] == pytest.approx(
        [thr[c] for c in dumped['classes']])
    assert meta['input_size'] == [32, 32]
    assert meta['resize'] == dict(type='Resize', interpolation='bilinear',
                                  keep_ratio=False)
    listed = tmp_path / 'images'
    listed.mkdir()
    for p in images:
        os.symlink(p, listed / osp.basename(p))
    # a decompression bomb among them: skipped and counted by both tools
    from conftest import bomb_png
    (listed / 'bomb.png').write_bytes(bomb_png())
    res = run_tool(['tools/infer.py', TINY_Q2L, trained['ckpt'], str(listed),
                    '--thr-file', str(thr_file), '--out',
                    str(tmp_path / 'torch.jsonl'), '--device', 'cpu'],
                   cwd=tmp_path)
    assert 'bomb.png declares 20000 x 20000 pixels' in res.stderr
    assert '6 images predicted, 1 skipped' in res.stdout
    proc = subprocess.run(
        [sys.executable, '-c', NO_TORCH,
         osp.join(REPO, 'tools', 'deployment', 'onnx_infer.py'), out,
         str(listed), '--out', str(tmp_path / 'onnx.jsonl')],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'skipped' in proc.stderr and 'bomb.png' in proc.stderr
    assert '6 images predicted, 1 skipped' in proc.stdout
    ref = [json.loads(x) for x in open(tmp_path / 'torch.jsonl')]
    got = [json.loads(x) for x in open(tmp_path / 'onnx.jsonl')]
    assert [r['img_path'] for r in got] == [r['img_path'] for r in ref]
    for a, b in zip(got, ref):
        assert a['pred_labels'] == b['pred_labels']
        assert a['scores'] == pytest.approx(b['scores'], abs=0.02)

    # a crash half-way loses nothing written: --resume finishes the run
    # with the same lines; another threshold set is not resumed
    onnx_infer = load_tool('deployment/onnx_infer')
    real_resize, calls = onnx_infer.resize, []

    def crash_at_the_fifth(*a, **kw):
        calls.append(1)
        if len(calls) == 5:
            raise MemoryError('the machine ran out of memory')
        return real_resize(*a, **kw)

    again = str(tmp_path / 'again.jsonl')
    onnx_infer.resize = crash_at_the_fifth
    with pytest.raises(MemoryError):
        onnx_infer.main([out, str(listed), '--out', again,
                         '--batch-size', '2'])
    onnx_infer.resize = real_resize
    assert not osp.exists(again)
    # batches of 2 from the sorted folder: [bomb, 1], [2, 3], [4, 5 crashes]
    assert len(open(again + '.partial').read().splitlines()) == 3
    with pytest.raises(SystemExit, match='differs in: thresholds'):
        onnx_infer.main([out, str(listed), '--out', again, '--resume',
                         '--thr', '0.3'])
    assert onnx_infer.main([out, str(listed), '--out', again,
                            '--resume']) == 0
    assert [json.loads(x) for x in open(again)] == got


def test_the_deployment_page_runs_as_written(trained, tmp_path,
                                             monkeypatch):
    """Every Python block of docs/visualization_and_deployment.md, in a
    folder holding the files it names."""
    import re
    text = open(osp.join(REPO, 'docs', 'visualization_and_deployment.md'),
                encoding='utf-8').read()
    blocks = re.findall(r'```python\n(.*?)```', text, re.S)
    assert len(blocks) >= 2
    (tmp_path / 'work_dirs').mkdir()
    load_tool('deployment/export_onnx').main(
        [TINY_Q2L, trained['ckpt'], '--out',
         str(tmp_path / 'work_dirs' / 'demo.onnx'), '--dynamic-batch'])
    shutil.copy(trained['dumped']['img_paths'][0], tmp_path / 'photo.jpg')
    monkeypatch.chdir(tmp_path)
    served = 0
    for block in blocks:
        if 'gradio_client' in block:  # the web demo's API: a live server
            pytest.importorskip('gradio', reason='pip install -e ".[demo]"')
            with web_demo_server(TINY_Q2L, trained['ckpt']) as url:
                api = {}
                exec(compile(block.replace('http://127.0.0.1:7860/', url),
                             'docs block', 'exec'), api)
            assert len(api['out']['scores']) == 12
            assert set(api['out']['labels']) <= set(api['out']['scores'])
            served += 1
            continue
        ns = {}
        exec(compile(block, 'docs block', 'exec'), ns)
    assert served == 1
    assert set(ns['labels']) <= set(ns['classes'])
    assert len(ns['scores']) == len(ns['classes']) == 12
