"""tools/benchmarks/benchmark.py measures what it says, on any config."""
import json
import os.path as osp

import pytest

from conftest import REPO, load_tool
from mlic.engine.cpu import cpu_has_native_bf16

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')


def test_benchmark_compare_ema_data_and_json(tmp_path):
    cfg = tmp_path / 'ema.py'
    cfg.write_text(f'_base_ = [{TINY_Q2L!r}]\n'
                   "default_hooks = dict(ema=dict(type='DualEMAHook', "
                   'decay=0.9))\n'
                   'train_dataloader = dict(num_workers=0, '
                   'persistent_workers=False)\n')
    out = tmp_path / 'bench.json'
    results = load_tool('benchmarks/benchmark').main(
        [str(cfg), '--steps', '2', '--warmup', '1', '--batch', '4',
         '--rounds', '2', '--with-data', '--compare', '',
         'model.neck.rpe=None', '--json', str(out)])
    saved = json.loads(out.read_text())['results']
    amp_dtype = 'bf16 autocast' if cpu_has_native_bf16() else 'fp32'
    assert [r['variant'] for r in saved] == ['(config)', 'model.neck.rpe=None']
    first, second = saved
    assert first['train_time_ratio'] == 1.0
    assert second['train_time_ratio'] == pytest.approx(
        second['train_ms'] / first['train_ms'])
    for r in saved:
        assert r['train_img_s'] == pytest.approx(4 / r['train_ms'] * 1000)
        assert r['infer_img_s'] == pytest.approx(
            r['infer_batch'] / r['infer_ms'] * 1000)
        assert set(r['phases_ms']) == {'data', 'forward', 'backward',
                                       'optimizer', 'ema'}
        assert r['phases_ms']['ema'] > 0       # the config's EMA hook
        assert r['phases_ms']['data'] > 0      # the real dataloader
        assert r['peak_memory_bytes'] > 0
        # the demo's AMP, which a CPU without bf16 instructions trains in fp32
        assert r['dtype'] == amp_dtype and r['device'] == 'cpu'
        assert r['steps_timed'] == 4  # 2 rounds x 2 steps
    assert len(results) == 2


def test_benchmark_amp_on_cpu_is_bf16_and_cuda_needs_a_gpu(tmp_path):
    import torch
    fp32 = ['--cfg-options', 'optim_wrapper.type=OptimWrapper']
    bench = load_tool('benchmarks/benchmark').main
    results = bench([TINY_Q2L, '--steps', '1', '--warmup', '0'] + fp32)
    assert results[0]['dtype'] == 'fp32'
    results = bench([TINY_Q2L, '--steps', '1', '--warmup', '0',
                     '--amp', 'bf16'] + fp32)
    assert results[0]['dtype'] == 'bf16 autocast'
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='no GPU'):
            load_tool('benchmarks/benchmark').main(
                [TINY_Q2L, '--device', 'cuda'])


STAND_IN_Q2L = '''
import torch
import torch.nn as nn
import torchvision.models.utils  # the old module the real code imports


class Net(nn.Module):
    def __init__(self, num_class):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, num_class)
        self.frozen = nn.Linear(2, 2).requires_grad_(False)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def build_q2l(args):
    import torchvision
    # as the real Backbone: asks for downloaded weights
    backbone = torchvision.models.resnet101(pretrained=True)
    assert backbone.fc.weight.shape == (1000, 2048)
    assert args.hidden_dim == 2048 and args.dec_layers == 2
    net = Net(args.num_class)
    net.img_size = args.img_size
    return net
'''


def test_compare_query2label_times_the_official_model_in_the_same_step(
        tmp_path, monkeypatch):
    """With a stand-in for the official code: its model is built through
    build_q2l with main_mlc's defaults, trained with the config's loss, and
    the import shims are undone afterwards."""
    import sys

    import torch
    import torchvision
    root = tmp_path / 'query2labels'
    (root / 'lib' / 'models').mkdir(parents=True)
    (root / 'lib' / 'models' / '__init__.py').write_text('')
    (root / 'lib' / 'models' / 'query2label.py').write_text(STAND_IN_Q2L)
    tool = load_tool('benchmarks/compare_query2label')
    resnet101 = torchvision.models.resnet101
    out = tmp_path / 'cmp.json'
    results = tool.main(['--q2l-root', str(root), '--config', TINY_Q2L,
                         '--steps', '1', '--warmup', '0', '--batch', '2',
                         '--json', str(out)])
    names = [r['variant'] for r in results]
    assert names == ['official Q2L, its step', 'official Q2L, fused AdamW',
                     'mlic tiny_q2l.py',
                     'mlic, fused AdamW + channels_last off',
                     'mlic + Q2L backbone handling']
    assert json.loads(out.read_text())['results'][0]['variant'] == names[0]
    assert results[0]['train_time_ratio'] == 1.0
    for r in results:
        assert r['train_ms'] > 0 and r['infer_img_s'] > 0
    # everything the shims touched is back
    assert torchvision.models.resnet101 is resnet101
    assert 'models.query2label' not in sys.modules
    assert 'torchvision.models.utils' not in sys.modules
    assert str(root / 'lib') not in sys.path

    # the stand-in's logits go through the config's loss (APL), unchanged
    from mmpretrain.structures import DataSample

    from mlic.registry import MODELS
    from mlic.utils import load_config
    cfg = load_config(TINY_Q2L)
    net = tool.build_official(str(root), 12, 32)
    assert net.img_size == 32 and net.fc.out_features == 12
    model = tool.external_classifier(net, cfg)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    samples = [DataSample().set_gt_label([1, 3]).set_gt_score(
        torch.eye(12)[[1, 3]].sum(0)), DataSample().set_gt_label(
            [0]).set_gt_score(torch.eye(12)[0])]
    loss = model(x, samples, mode='loss')['loss']
    target = torch.stack([s.gt_score for s in samples])
    apl = MODELS.build(cfg.model.head.loss)
    torch.testing.assert_close(loss, apl(net(x), target, avg_factor=2))

    with pytest.raises(FileNotFoundError, match='no lib/models/query2label'):
        tool.build_official(str(tmp_path), 12, 32)


def test_variants_are_timed_interleaved_round_by_round(monkeypatch):
    """measure_all: one variant after the other with one round; with more,
    warm-up each, then rounds of every variant in turn."""
    from mlic.benchmarking import step_timer as benchmark
    calls = []

    class Fake:
        def __init__(self, cfg, model=None, **options):
            self.name = cfg

        def train(self, steps, record=True):
            calls.append(('train', self.name, steps, record))

        def infer(self, steps, record=True):
            calls.append(('infer', self.name, steps, record))

        def result(self):
            return dict(name=self.name)

    monkeypatch.setattr(benchmark, 'StepTimer', Fake)
    out = benchmark.measure_all([('a', None), ('b', None)], steps=3,
                                warmup=1, rounds=1)
    assert out == [dict(name='a'), dict(name='b')]
    assert calls == [  # one at a time
        ('train', 'a', 1, False), ('train', 'a', 3, True),
        ('infer', 'a', 1, False), ('infer', 'a', 3, True),
        ('train', 'b', 1, False), ('train', 'b', 3, True),
        ('infer', 'b', 1, False), ('infer', 'b', 3, True)]
    calls.clear()
    out = benchmark.measure_all([('a', None), ('b', None)], steps=3,
                                warmup=1, rounds=2)
    assert out == [dict(name='a'), dict(name='b')]
    assert calls == [
        ('train', 'a', 1, False), ('train', 'b', 1, False),
        ('train', 'a', 3, True), ('train', 'b', 3, True),
        ('train', 'a', 3, True), ('train', 'b', 3, True),
        ('infer', 'a', 1, False), ('infer', 'b', 1, False),
        ('infer', 'a', 3, True), ('infer', 'b', 3, True),
        ('infer', 'a', 3, True), ('infer', 'b', 3, True)]


@pytest.mark.parametrize('fold_bn', [True, False])
def test_inference_times_the_folded_copy_the_test_loop_would(
        monkeypatch, fold_bn):
    """The inference column runs what tools/test.py runs: a BatchNorm-folded
    copy of the weights of that moment (FoldedTestLoop's fold_bn), or the
    model itself with test_cfg.fold_bn=False; the table says which."""
    import torch

    from mlic.benchmarking import StepTimer, add_ratios, format_table
    from mlic.models import batchnorm_folding
    from mlic.utils import load_config, register_all_modules
    register_all_modules()
    scored = []
    real = batchnorm_folding.fold_batchnorm_for_batch

    def spy(model, data_batch, logger_print=print):
        folded, report = real(model, data_batch, logger_print)
        step = folded.test_step

        def counted(data):
            scored.append(folded)
            return step(data)
        folded.test_step = counted
        return folded, report
    monkeypatch.setattr(batchnorm_folding, 'fold_batchnorm_for_batch', spy)
    cfg = load_config(TINY_Q2L, {'test_cfg.fold_bn': fold_bn})
    timer = StepTimer(cfg, batch=2)
    timer.train(1)
    timer.infer(2)
    assert timer.infer_folded is fold_bn
    if fold_bn:
        assert len(scored) == 2 and scored[0] is not timer.model
        assert not any(isinstance(m, torch.nn.BatchNorm2d)
                       for m in scored[0].modules())
    else:
        assert scored == []
    result = dict(timer.result(), variant='v')
    table = format_table(add_ratios([result]), 'tiny', 2, 0)
    assert table.splitlines()[1].endswith('BN fold')
    assert table.splitlines()[2].split()[-1] == ('yes' if fold_bn else 'no')


def test_model_zoo_costs_measures_each_config(tmp_path, capsys):
    """--measure: the config's own batches and validation precision, the
    folded validation model, memory held + step peak, and hours from the
    measured throughput (recomputed here from the printed figures)."""
    cfg = tmp_path / 'coco_tiny.py'  # named as a COCO config: COCO's sizes
    cfg.write_text(f'_base_ = [{TINY_Q2L!r}]\n'
                   "custom_hooks = [dict(type='DualEMAHook', decay=0.9)]\n"
                   'train_dataloader = dict(batch_size=3)\n')
    other = tmp_path / 'my_data.py'  # a dataset of unknown size
    other.write_text(f'_base_ = [{TINY_Q2L!r}]\n')
    out = tmp_path / 'zoo.json'
    tool = load_tool('benchmarks/model_zoo_costs')
    results = tool.main(['--measure', 'cpu', str(cfg), str(other),
                         '--steps', '1', '--warmup', '0',
                         '--json', str(out)])
    printed = capsys.readouterr().out
    first, second = results
    assert first['batch'] == 3 and first['infer_batch'] == 4
    assert first['infer_dtype'] == ('bf16 autocast' if cpu_has_native_bf16()
                                    else 'fp32')  # the demo's val_cfg.fp16
    assert first['infer_bn_folded'] is True
    assert first['evals_per_epoch'] == 2 and second['evals_per_epoch'] == 1
    assert first['epochs'] == 2
    want = 2 * (82783 / first['train_img_s'] +
                2 * 40504 / first['infer_img_s']) / 3600
    assert first['gpu_hours'] == pytest.approx(want)
    assert second['gpu_hours'] is None
    assert first['resident_bytes'] > first['peak_memory_bytes'] > 0
    rows = [line for line in printed.splitlines() if 'coco_tiny' in line]
    assert len(rows) == 1 and f'{want:.1f} (2 epochs)' in rows[0]
    assert [line for line in printed.splitlines()
            if 'my_data' in line][0].endswith('| - |')
    saved = json.loads(out.read_text())
    assert saved['device'] == 'cpu' and len(saved['results']) == 2


def test_partial_modes_benchmark_times_every_mode(capsys):
    """benchmark_partial_modes.py: one row per mode, the reference at 1.0
    (values are timings: only their presence is checked)."""
    tool = load_tool('benchmarks/benchmark_partial_modes')
    out = tool.main(['--batch', '2', '--steps', '1', '--rounds', '1'])
    assert list(out) == [name for name, _ in tool.MODES]
    assert all(t > 0 for t in out.values())
    printed = capsys.readouterr().out
    assert '| full labels, plain loss |' in printed and '| 1.000 |' in printed
    alone = tool.main(['--loss-only', '--batch', '2', '--classes', '4', '30',
                       '--steps', '1', '--rounds', '1'])
    assert list(alone) == list(out) and all(len(v) == 2
                                            for v in alone.values())
