"""VOC end to end: train, the per-class table, server submission files."""
import csv
import glob
import json
import os.path as osp
import re
import tarfile

import numpy as np
import pytest
import timm
import torch
import torchvision

from conftest import REPO, VOC_CLASSES, as_cli, load_tool, write_voc
from mlic.evaluation import paper_table, write_voc_cls_results

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

LINE = re.compile(r'^(\S+) (\d\.\d{6})$')


def _check_submission(main_dir, comp, ids):
    files = sorted(glob.glob(osp.join(main_dir, '*.txt')))
    assert len(files) == 20
    assert [osp.basename(f) for f in files] == sorted(
        f'comp{comp}_cls_test_{c}.txt' for c in VOC_CLASSES)
    for path in files:
        lines = open(path).read().splitlines()
        assert len(lines) == len(ids), path
        got = []
        for line in lines:
            m = LINE.match(line)
            assert m, f'{path}: bad line {line!r}'
            assert 0.0 <= float(m[2]) <= 1.0
            got.append(m[1])
        assert got == ids


def test_writer_files_and_archive(tmp_path):
    ids = ['2008_000001', '2008_000007', '2009_004005']
    scores = np.random.default_rng(0).random((3, 20))
    scores[0, 0], scores[1, 1] = 0.0, 1.0
    out = write_voc_cls_results(str(tmp_path), ids, scores, VOC_CLASSES,
                                comp=1)
    main = osp.join(str(tmp_path), 'results', 'VOC2012', 'Main')
    _check_submission(main, 1, ids)
    line = open(osp.join(main, 'comp1_cls_test_bicycle.txt')).readlines()[1]
    assert line == '2008_000007 1.000000\n'
    with tarfile.open(out['archive']) as tar:
        names = sorted(tar.getnames())
    assert names == sorted(f'results/VOC2012/Main/comp1_cls_test_{c}.txt'
                           for c in VOC_CLASSES)
    with pytest.raises(ValueError, match='in \\[0, 1\\]'):
        write_voc_cls_results(str(tmp_path), ids, scores + 1, VOC_CLASSES)
    with pytest.raises(ValueError, match='duplicate'):
        write_voc_cls_results(str(tmp_path), ids[:2] * 2,
                              np.zeros((4, 20)), VOC_CLASSES)
    with pytest.raises(ValueError, match='comp'):
        write_voc_cls_results(str(tmp_path), ids, scores, VOC_CLASSES, comp=3)


def test_paper_table_layout():
    per_class = {c: 90.0 + i * 0.25 for i, c in enumerate(VOC_CLASSES)}
    table = paper_table(per_class, 92.375)
    head, vals = table.splitlines()
    assert head.split() == ['aero', 'bike', 'bird', 'boat', 'bottle', 'bus',
                            'car', 'cat', 'chair', 'cow', 'table', 'dog',
                            'horse', 'mbike', 'person', 'plant', 'sheep',
                            'sofa', 'train', 'tv', 'mAP']
    assert vals.split()[:3] == ['90.0', '90.2', '90.5']  # one decimal
    assert vals.split()[-1] == '92.4'
    assert len(head) == len(vals)
    # with labels that were not all known: a third row, aligned
    known = {c: 4952 - i for i, c in enumerate(VOC_CLASSES)}
    head, vals, counts = paper_table(per_class, 92.375, known).splitlines()
    assert counts.split()[:2] == ['4952', '4951']
    assert counts.split()[-1] == 'known'
    assert len(counts) == len(head) == len(vals)


IMAGES07 = {f'00{i:04d}': [(VOC_CLASSES[i % 20], 0),
                           (VOC_CLASSES[(i * 7) % 20], i % 3 == 0)]
            for i in range(8)}
IMAGES12 = {f'2008_{i:06d}': [(VOC_CLASSES[(i * 3) % 20], 0)]
            for i in range(6)}


def small_model(weights):
    """Size overrides: ResNet-18 backbone, 64-d transformer."""
    return {
        'model.backbone.depth': 18,
        'model.backbone.init_cfg.checkpoint': weights,
        'model.neck.in_channels': 512,
        'model.neck.embed_dims': 64,
        'model.neck.feedforward_channels': 128,
        'model.head.in_channels': 64,
        'model.head.feedforward_channels': 128,
    }


def loaders(root07, root12=None):
    opts = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.batch_size': 2, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False,
                     f'{loader}.dataset.pipeline.1.scale': (64, 64)})
        opts[f'{loader}.dataset.data_root'] = root12 or root07
    opts.update({'train_cfg.max_epochs': 1,
                 'default_hooks.checkpoint.save_best': None})
    return opts


def test_voc07_train_then_per_class_table(tmp_path, capsys):
    root = write_voc(tmp_path / 'VOC2007', IMAGES07,
                     dict(trainval=list(IMAGES07)[:4],
                          test=list(IMAGES07)[4:]))
    w = str(tmp_path / 'r18.pth')
    torch.save(torchvision.models.resnet18().state_dict(), w)
    opts = loaders(root) | small_model(w)
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'voc07_r101_448.py')
    work = str(tmp_path / 'work')
    load_tool('train').main(
        [config, '--work-dir', work, '--cfg-options'] + as_cli(opts))
    ckpt = osp.join(work, 'epoch_1.pth')
    capsys.readouterr()
    metrics = load_tool('test').main(
        [config, ckpt, '--work-dir', work, '--cfg-options'] + as_cli(opts))
    out = capsys.readouterr().out
    assert 'Per-class AP (%)' in out and 'mbike' in out
    with open(osp.join(work, 'per_class_ap_epoch_1.csv')) as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(VOC_CLASSES) + ['mAP']
    data = json.load(open(osp.join(work, 'per_class_ap_epoch_1.json')))
    assert data['classes'] == list(VOC_CLASSES)
    assert data['mAP'] == pytest.approx(metrics['mAP'])
    aps = [v for v in data['AP'].values() if v is not None]
    assert np.mean(aps) == pytest.approx(metrics['mAP'])
    assert float(rows[1][-1]) == pytest.approx(metrics['mAP'], abs=1e-4)


def test_voc12_format_only_writes_submission(tmp_path, capsys):
    ids = list(IMAGES12)
    root = write_voc(tmp_path / 'VOC2012', IMAGES12,
                     dict(trainval=ids[:4], val=ids[2:4]))
    test_ids = ['2012_000010', '2012_000003', '2012_000001']
    write_voc(root, {i: [] for i in test_ids}, dict(test=test_ids),
              with_annotations=False)
    model = timm.create_model('tresnet_m')
    w = str(tmp_path / 'tresnet_m.pth')
    torch.save(model.state_dict(), w)
    opts = loaders(root, root) | {
        'model.backbone.model_name': 'tresnet_m',
        'model.backbone.init_cfg.checkpoint': w,
        'model.neck.in_channels': 2048,
        'model.neck.embed_dims': 64,
        'model.neck.feedforward_channels': 128,
        'model.head.in_channels': 64,
        'model.head.feedforward_channels': 128,
    }
    config = osp.join(REPO, 'configs', 'q2l_irpe', 'voc12_tresnetl_448.py')
    work = str(tmp_path / 'work')
    load_tool('train').main(
        [config, '--work-dir', work, '--cfg-options'] + as_cli(opts))
    out_dir = str(tmp_path / 'submit')
    load_tool('test').main(
        [config, osp.join(work, 'epoch_1.pth'), '--work-dir', work,
         '--format-only', '--out-dir', out_dir, '--cfg-options']
        + as_cli(opts))
    assert 'VOC result files written' in capsys.readouterr().out
    _check_submission(osp.join(out_dir, 'results', 'VOC2012', 'Main'), 2,
                      test_ids)
    assert osp.isfile(osp.join(out_dir,
                               'results_VOC2012_comp2_cls_test.tar.gz'))


def test_format_only_needs_out_dir(capsys):
    test = load_tool('test')
    with pytest.raises(SystemExit):
        test.parse_args(['cfg.py', 'ckpt.pth', '--format-only'])
    assert '--format-only needs --out-dir' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        test.parse_args(['cfg.py', 'ckpt.pth', '--out-dir', 'x'])
    with pytest.raises(SystemExit):
        test.parse_args(['cfg.py', 'ckpt.pth', '--format-only', '--out-dir',
                         'x', '--voc-comp', '3'])
