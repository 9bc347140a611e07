"""Own data end to end: a CSV dataset trained with the paper config for
own data, predictions with the inferencer and tools/infer.py equal to
tools/test.py's, and per-class thresholds calibrated on validation."""
import csv
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torchvision

from conftest import REPO, as_cli, load_tool, run_tool
from mlic.evaluation import (calibrate_thresholds, load_predictions,
                             multilabel_metrics, save_predictions)

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

CONFIG = osp.join(REPO, 'configs', 'custom', 'csv_r101_448.py')
CLASSES = ['cat', 'dog', 'bird']
TRAIN = [('t/0.jpg', 'cat dog', ''), ('t/1.jpg', 'bird', ''),
         ('t/2.jpg', '', ''), ('t/3.jpg', 'dog', 'cat')]
VAL = [('v/0.jpg', 'cat', ''), ('v/1.jpg', 'dog bird', ''),
       ('v/2.jpg', 'bird', 'dog'), ('v/3.jpg', '', ''), ('v/4.jpg', 'cat', '')]


def _write_dataset(root):
    rng = np.random.default_rng(0)
    for split, rows in (('train', TRAIN), ('val', VAL)):
        with open(osp.join(root, f'{split}.csv'), 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['image', 'labels', 'ignored'])
            for row in rows:
                writer.writerow(row)
                path = osp.join(root, 'images', row[0])
                os.makedirs(osp.dirname(path), exist_ok=True)
                cv2.imwrite(path, rng.integers(0, 255, (40, 56, 3), np.uint8))
    with open(osp.join(root, 'classes.txt'), 'w') as f:
        f.write('\n'.join(CLASSES) + '\n')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """configs/custom/csv_r101_448.py trained 2 iterations (shrunk)."""
    root = str(tmp_path_factory.mktemp('my_dataset'))
    _write_dataset(root)
    weights = osp.join(root, 'resnet18.pth')
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    opts = {'model.backbone.depth': 18,
            'model.backbone.init_cfg.checkpoint': weights,
            'model.neck.in_channels': 512, 'model.neck.embed_dims': 64,
            'model.neck.feedforward_channels': 128,
            'model.head.in_channels': 64,
            'model.head.feedforward_channels': 128,
            'train_cfg.max_epochs': 1}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.batch_size': 2, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False,
                     f'{loader}.dataset.data_root': root,
                     f'{loader}.dataset.pipeline.1.scale': (64, 64)})
    work = osp.join(root, 'work')
    torch.manual_seed(0)
    runner = load_tool('train').main([CONFIG, '--work-dir', work,
                                      '--cfg-options'] + as_cli(opts))
    assert runner.iter == 2  # 4 images, batch 2
    assert runner.model.head.num_classes == 3
    assert runner.train_dataloader.dataset.metainfo['classes'] == \
        tuple(CLASSES)
    return dict(root=root, work=work, ckpt=osp.join(work, 'epoch_1.pth'),
                opts=opts)


def _test_out(trained, tmp_path, *extra):
    out = str(tmp_path / 'preds.npz')
    metrics = load_tool('test').main(
        [CONFIG, trained['ckpt'], '--work-dir', str(tmp_path), '--out', out]
        + list(extra) + ['--cfg-options'] + as_cli(trained['opts']))
    return metrics, load_predictions(out)


def _inferencer(trained, **kwargs):
    from mlic.apis import MultiLabelInferencer
    from mlic.utils import load_config
    cfg = load_config(CONFIG, trained['opts'])
    return MultiLabelInferencer(cfg, trained['ckpt'], device='cpu', **kwargs)


def test_ignored_labels_reach_the_metric(trained, tmp_path):
    _, dumped = _test_out(trained, tmp_path)
    assert dumped['classes'] == CLASSES
    rows = {osp.relpath(p, osp.join(trained['root'], 'images')): t.tolist()
            for p, t in zip(dumped['img_paths'], dumped['targets'])}
    assert rows['v/2.jpg'] == [0, -1, 1]  # dog ignored
    assert rows['v/3.jpg'] == [0, 0, 0]   # no label: a negative


def test_inferencer_equals_test_tool(trained, tmp_path):
    _, dumped = _test_out(trained, tmp_path)
    infer = _inferencer(trained)
    assert infer.classes == CLASSES  # from the checkpoint
    folder = osp.join(trained['root'], 'images', 'v')
    results = infer(folder, batch_size=2)
    by_path = {r['img_path']: r for r in results}
    assert sorted(by_path) == sorted(dumped['img_paths'])
    for path, scores in zip(dumped['img_paths'], dumped['scores']):
        got = np.array([by_path[path]['scores'][c] for c in CLASSES])
        np.testing.assert_allclose(got, scores, atol=1e-5)
    # a list of paths, one at a time, and BGR arrays give the same scores
    paths = sorted(by_path)
    single = infer(paths, batch_size=1)
    arrays = infer([cv2.imread(p) for p in paths], batch_size=3)
    for a, b, c in zip(single, arrays, paths):
        for name in CLASSES:
            assert a['scores'][name] == pytest.approx(
                by_path[c]['scores'][name], abs=1e-5)
            assert b['scores'][name] == pytest.approx(
                by_path[c]['scores'][name], abs=1e-5)
        assert 'img_path' not in b
    # the channel order matters: RGB arrays are not the same images
    rgb = infer([cv2.imread(paths[0])[..., ::-1]])[0]
    assert max(abs(rgb['scores'][n] - by_path[paths[0]]['scores'][n])
               for n in CLASSES) > 1e-4
    # labels above threshold, highest first; topk
    r = results[0]
    assert r['pred_labels'] == [n for n in sorted(
        CLASSES, key=lambda n: -r['scores'][n]) if r['scores'][n] >= 0.5]
    top2 = infer(paths[:1], topk=2)[0]
    assert top2['pred_scores'] == sorted(top2['scores'].values(),
                                         reverse=True)[:2]


def test_test_tool_and_inferencer_score_a_folded_copy(trained, tmp_path,
                                                      monkeypatch):
    """tools/test.py (FoldedTestLoop) and the inferencer score a copy with
    every BatchNorm folded, made once per pass; the scores equal the
    unfolded model's up to float32 rounding."""
    from mlic.models import batchnorm_folding
    reports = []
    real = batchnorm_folding.fold_batchnorm_for_batch

    def spy(*args, **kwargs):
        folded, report = real(*args, **kwargs)
        reports.append(report)
        return folded, report
    monkeypatch.setattr(batchnorm_folding, 'fold_batchnorm_for_batch', spy)
    runs = {}
    for name, extra in (('folded', []), ('plain', ['test_cfg.fold_bn=False'])):
        (tmp_path / name).mkdir()
        out = str(tmp_path / name / 'preds.npz')
        load_tool('test').main(
            [CONFIG, trained['ckpt'], '--work-dir', str(tmp_path / name),
             '--out', out, '--cfg-options'] + as_cli(trained['opts'])
            + extra)
        runs[name] = load_predictions(out)
        if name == 'folded':  # one fold for the whole pass (2 batches)
            assert len(reports) == 1 and reports[0].used
            assert len(reports[0].folded) == 20  # ResNet-18's BatchNorms
    assert len(reports) == 1  # fold_bn=False: none
    np.testing.assert_allclose(runs['folded']['scores'],
                               runs['plain']['scores'], atol=1e-5)
    infer = _inferencer(trained)
    assert infer.fold_bn is True  # the config's test loop folds
    results = infer(list(runs['plain']['img_paths']), batch_size=2)
    assert len(reports) == 2  # the inferencer folded once, on its 1st batch
    scoring = infer._scoring_model
    assert scoring is not infer.model and not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in scoring.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d)
               for m in infer.model.modules())
    got = np.array([[r['scores'][c] for c in CLASSES] for r in results])
    np.testing.assert_allclose(got, runs['plain']['scores'], atol=1e-5)
    plain = _inferencer(trained, fold_bn=False)
    plain(list(runs['plain']['img_paths'])[:1])
    assert plain._scoring_model is None and len(reports) == 2


def test_amp_evaluation_equals_amp_inference(trained, tmp_path,
                                             monkeypatch):
    """tools/test.py --amp and MultiLabelInferencer(amp=True) run the same
    autocast (bf16 on a CPU): the same scores, which differ from the
    float32 ones by bf16 rounding only. The CPU is declared bf16-capable so
    that the check runs on any CPU (bf16 autocast is only slower without
    AVX512-BF16/AMX, not different)."""
    from mlic.engine import cpu
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: True)
    runs = {}
    for name, extra in (('fp32', ()), ('amp', ('--amp', ))):
        (tmp_path / name).mkdir()
        runs[name] = _test_out(trained, tmp_path / name, *extra)[1]
    diff = np.abs(runs['amp']['scores'] - runs['fp32']['scores']).max()
    assert 0 < diff < 0.05  # autocast was on, and only rounds
    infer = _inferencer(trained, amp=True)
    results = infer(list(runs['amp']['img_paths']), batch_size=2)
    got = np.array([[r['scores'][c] for c in CLASSES] for r in results])
    np.testing.assert_allclose(got, runs['amp']['scores'], atol=1e-5)
    assert _inferencer(trained).amp is False  # the config's test_cfg


def test_infer_tool_writes_jsonl_and_csv_and_skips_bad_images(trained,
                                                              tmp_path):
    folder = tmp_path / 'new'
    folder.mkdir()
    for name in ('a.jpg', 'b.png'):
        cv2.imwrite(str(folder / name),
                    cv2.imread(osp.join(trained['root'], 'images', 'v',
                                        '1.jpg')))
    (folder / 'broken.jpg').write_bytes(b'not an image')
    (folder / 'notes.txt').write_text('not an image file name')
    thr = tmp_path / 'thr.json'
    thr.write_text(json.dumps({'thresholds': {'cat': 0.0, 'dog': 1.0,
                                              'bird': 0.5}}))
    # infer.py takes the config and checkpoint as a user gives them; the
    # size overrides live in a config file here
    overrides = tmp_path / 'small.py'
    overrides.write_text(_as_config(CONFIG, trained['opts']))
    out = tmp_path / 'p.jsonl'
    res = run_tool(['tools/infer.py', str(overrides), trained['ckpt'],
                    str(folder), '--out', str(out), '--thr-file', str(thr),
                    '--device', 'cpu'], cwd=tmp_path)
    assert 'skipped' in res.stderr and 'broken.jpg' in res.stderr
    assert '2 images predicted, 1 skipped' in res.stdout
    assert 'folded 20 BatchNorm layers' in res.stdout + res.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [osp.basename(x['img_path']) for x in lines] == ['a.jpg', 'b.png']
    assert all('cat' in x['pred_labels'] and 'dog' not in x['pred_labels']
               for x in lines)  # thresholds 0 and 1
    out_csv = tmp_path / 'p.csv'
    plain = run_tool(['tools/infer.py', str(overrides), trained['ckpt'],
                      str(folder / 'a.jpg'), '--out', str(out_csv),
                      '--topk', '1', '--no-fold-bn'], cwd=tmp_path)
    assert 'folded' not in plain.stdout + plain.stderr
    rows = list(csv.reader(open(out_csv)))
    assert rows[0] == ['img_path', 'cat', 'dog', 'bird', 'pred_labels']
    scores = [float(v) for v in rows[1][1:4]]
    # unfolded (csv) and folded (jsonl) scores of a.jpg: rounding apart
    np.testing.assert_allclose(scores, [lines[0]['scores'][c]
                                        for c in CLASSES], atol=1e-5)
    assert rows[1][4] == CLASSES[int(np.argmax(scores))]
    table = run_tool(['tools/infer.py', str(overrides), trained['ckpt'],
                      str(folder / 'a.jpg'), '--thr', '0'], cwd=tmp_path)
    assert 'a.jpg' in table.stdout and 'cat' in table.stdout


def _as_config(base, opts):
    """A config file that applies ``opts`` to ``base``."""
    from mmengine.config import Config
    cfg = Config.fromfile(base)
    cfg.merge_from_dict(opts)
    return cfg.pretty_text


def test_calibration_finds_the_known_thresholds(tmp_path):
    # class 0: positives at 0.9, 0.7, 0.4; negatives 0.6, 0.2 ->
    #   thr 0.4 -> TP 3, PP 4: F1 = 6/7 (best);
    # class 1: positive 0.8, negatives 0.85 and 0.3 -> thr 0.8: F1 = 2/3,
    #   thr 0.85: F1 = 0.5, ties: none;
    # class 2: no positives -> keeps the default;
    # class 3: tie between thr 0.7 (TP 1, PP 1, P 2: F1 2/3) and thr 0.5
    #   (TP 2, PP 4: F1 2/3) -> the higher threshold.
    scores = np.array([[0.9, 0.8, 0.1, 0.7],
                       [0.7, 0.85, 0.2, 0.6],
                       [0.4, 0.3, 0.3, 0.55],
                       [0.6, 0.1, 0.9, 0.5],
                       [0.2, 0.2, 0.4, 0.1]])
    targets = np.array([[1, 1, 0, 1],
                        [1, 0, 0, 0],
                        [1, 0, 0, 0],
                        [0, 0, 0, 1],
                        [0, -1, 0, 0]])
    found = calibrate_thresholds(scores, targets, default=0.5)
    assert found['thresholds'].tolist() == [0.4, 0.8, 0.5, 0.7]
    assert found['no_positives'] == [2]
    np.testing.assert_allclose(found['f1'][[0, 1, 3]], [6 / 7, 2 / 3, 2 / 3])
    # through the tool, on a test.py --out file
    preds = tmp_path / 'val.npz'
    save_predictions(str(preds), scores, targets, ['a', 'b', 'c', 'd'],
                     img_ids=list(range(5)))
    out = tmp_path / 'thr.json'
    tool = load_tool('analysis_tools/calibrate_thresholds')
    result = tool.main([str(preds), '--out', str(out),
                        '--min-positives', '1'])
    saved = json.loads(out.read_text())
    assert saved['thresholds'] == pytest.approx(
        {'a': 0.4, 'b': 0.8, 'c': 0.5, 'd': 0.7}, abs=1e-6)
    m = saved['metrics']
    assert m['calibrated']['CF1'] >= m['thr_0.5']['CF1']
    again = multilabel_metrics(scores.astype(np.float32), targets,
                               thr=np.array(list(saved['thresholds']
                                                 .values())))
    assert m['calibrated']['OF1'] == pytest.approx(again['OF1'])
    assert result['no_positives'] == ['c']
    # only known labels count, and the file says how many per class
    assert saved['known'] == {'a': 5, 'b': 4, 'c': 5, 'd': 5}


def test_test_tool_uses_a_threshold_file(trained, tmp_path):
    _, dumped = _test_out(trained, tmp_path / 'a')
    thr = {'cat': 0.3, 'dog': 0.6, 'bird': 0.45}
    path = tmp_path / 'thr.json'
    path.write_text(json.dumps(thr))
    metrics, _ = _test_out(trained, tmp_path / 'b', '--thr-file', str(path))
    expected = multilabel_metrics(dumped['scores'], dumped['targets'],
                                  thr=np.array([0.3, 0.6, 0.45]))
    for key in ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1', 'mAP'):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-6)
    path.write_text(json.dumps({'cat': 0.3}))
    from mlic.evaluation import ThresholdError
    with pytest.raises(ThresholdError, match=r"missing \['dog', 'bird'\]"):
        _test_out(trained, tmp_path / 'c', '--thr-file', str(path))


def test_another_class_order_is_refused_or_remapped_on_purpose(trained,
                                                               tmp_path):
    """The checkpoint was trained with classes.txt (cat, dog, bird); a test
    set without a classes list sorts its names (bird, cat, dog): before,
    tools/test.py printed a wrong mAP without a word."""
    from mlic.datasets.class_order import ClassOrderError
    (tmp_path / 'right').mkdir()
    right = _test_out(trained, tmp_path / 'right')[0]
    opts = dict(trained['opts'], **{'test_dataloader.dataset.classes': None})
    args = [CONFIG, trained['ckpt'], '--work-dir', str(tmp_path),
            '--cfg-options'] + as_cli(opts)
    with pytest.raises(ClassOrderError, match=r"same 3 names in another "
                       r"order.*#0: 'cat' vs 'bird'.*--remap-classes"):
        load_tool('test').main(args)
    remapped = load_tool('test').main(args[:4] + ['--remap-classes']
                                      + args[4:])
    for key in ('mAP', 'CF1', 'OF1'):
        assert remapped[key] == pytest.approx(right[key], abs=1e-9)


def test_splits_with_other_classes_are_refused_before_training(trained,
                                                               tmp_path):
    """Each CSV split without a classes list sorts its own names: a val
    split with 'zebra' instead of 'bird' trained and validated against
    mismatched columns (val mAP 36.3) without a warning."""
    from mlic.datasets.class_order import ClassOrderError
    root = tmp_path / 'data'
    root.mkdir()
    _write_dataset(str(root))
    text = (root / 'val.csv').read_text().replace('bird', 'zebra')
    (root / 'val.csv').write_text(text)
    opts = dict(trained['opts'])
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.dataset.data_root'] = str(root)
        opts[f'{loader}.dataset.classes'] = None
    with pytest.raises(ClassOrderError, match=r"validation split differ.*"
                       r"lack 1 \(\['bird'\]\) and add 1 \(\['zebra'\]\)"):
        load_tool('train').main([CONFIG, '--work-dir', str(tmp_path / 'w'),
                                 '--cfg-options'] + as_cli(opts))
    assert not (tmp_path / 'w' / 'epoch_1.pth').exists()


def test_the_small_csv_config_trains_and_evaluates(tmp_path):
    """The config of docs/custom_dataset.md, as printed (data_root pointed
    at a test dataset), in the user's own folder: it inherits
    configs/custom/csv_demo.py with 'mlic::', downloads nothing, trains and
    evaluates."""
    import re
    root = tmp_path / 'data' / 'my_dataset'
    os.makedirs(root)
    _write_dataset(str(root))
    text = open(osp.join(REPO, 'docs', 'custom_dataset.md'),
                encoding='utf-8').read()
    block = [b for b in re.findall(r'```python\n(.*?)```', text, re.S)
             if "mlic::custom/csv_demo.py" in b]
    assert len(block) == 1
    config = tmp_path / 'my_dataset.py'
    config.write_text(block[0])
    opts = {'train_cfg.max_epochs': 2}
    for loader in ('train_dataloader', 'val_dataloader'):
        opts.update({f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False})
    cwd = os.getcwd()
    os.chdir(tmp_path)  # data_root = 'data/my_dataset/', as in the docs
    try:
        runner = load_tool('train').main(
            [str(config), '--work-dir', 'w', '--cfg-options'] + as_cli(opts))
        assert runner.model.head.num_classes == 3 and runner.epoch == 2
        metrics = load_tool('test').main(
            [str(config), 'w/epoch_2.pth', '--cfg-options'] + as_cli(opts))
    finally:
        os.chdir(cwd)
    assert 0 <= metrics['mAP'] <= 100
    assert (tmp_path / 'w' / '.mlic-train.lock').exists() is False
