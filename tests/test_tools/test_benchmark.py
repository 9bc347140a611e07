"""tools/analysis_tools/benchmark.py measures what it says, on any config."""
import json
import os.path as osp

import pytest

from conftest import REPO, load_tool

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
    results = load_tool('analysis_tools/benchmark').main(
        [str(cfg), '--steps', '2', '--warmup', '1', '--batch', '4',
         '--with-data', '--compare', '', 'model.neck.rpe=None',
         '--json', str(out)])
    saved = json.loads(out.read_text())['results']
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
        assert r['dtype'] == 'fp32' and r['device'] == 'cpu'  # tiny: no AMP
    assert len(results) == 2


def test_benchmark_amp_on_cpu_is_bf16_and_cuda_needs_a_gpu(tmp_path):
    import torch
    results = load_tool('analysis_tools/benchmark').main(
        [TINY_Q2L, '--steps', '1', '--warmup', '0', '--amp', 'bf16'])
    assert results[0]['dtype'] == 'bf16 autocast'
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='no GPU'):
            load_tool('analysis_tools/benchmark').main(
                [TINY_Q2L, '--device', 'cuda'])
