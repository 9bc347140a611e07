"""Parameters, FLOPs, training memory and GPU-hours estimates per config.

For docs/model_zoo.md. For each config (default: the COCO and VOC configs
under configs/q2l_irpe/), at the config's own resolution:

* parameters (all, and the backbone's);
* forward GMACs per image (mmengine's counter, which counts a multiply-add
  once; the IRPE gathers are not counted, a few percent at most);
* training memory per GPU, estimated: the fp32 bytes of one training step
  (forward + backward) are measured on the CPU at batch 1 and 2 (malloc's
  in-use bytes sampled after every operator, as in benchmark_encoder.py),
  which gives a per-image activation cost; the estimate is weights + grads
  + AdamW's two moments + the EMA copy (5 x 4 bytes per parameter) + the
  config's per-GPU batch x the per-image cost x ``--amp-factor`` (fp16
  activations take about half the bytes);
* GPU-hours for the full schedule: (3 x forward FLOPs x training images +
  2 x forward FLOPs x validation images (raw and EMA)) x epochs, with
  FLOPs = 2 x MACs, at an assumed sustained ``--tflops`` per GPU (default
  20 TFLOP/s: an RTX 3090's fp16 tensor throughput at about 30%
  utilisation).

These are estimates for planning, not measurements on a GPU.

    python tools/benchmarks/model_zoo_costs.py [CONFIG ...] [--tflops 20]

``--measure cuda`` (or ``cpu``) measures instead, each config in its own
process, with the harness of benchmark.py (mlic.benchmarking): the
config's training step at its per-GPU batch (its AMP, optimizer and EMA),
its validation forward at the validation batch and precision
(``val_cfg.fp16``), on a BatchNorm-folded copy as the loop runs it; the
memory a training process holds (weights, gradients, optimizer state, EMA
copy) plus one step's peak; and GPU-hours for the schedule from the
measured throughput: epochs x (training images / training img/s +
validations per epoch x validation images / validation img/s), two
validations per epoch (raw and EMA) where the config has an EMA hook. One
GPU's figures; data loading is not included (benchmark.py --with-data
times it).

    python tools/benchmarks/model_zoo_costs.py --measure cuda [CONFIG ...]
        [--steps 8] [--warmup 3] [--batch N] [--cfg-options k=v ...]
        [--json FILE]
"""
import argparse
import glob
import json
import os.path as osp
import subprocess
import sys

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mlic.benchmarking import (ema_hook_cfg, measure as measure_step,
                               write_results)
from mlic.benchmarking.memory import cpu_peak_tracker, malloc_in_use
from mlic.engine.policy import loop_folds
from mlic.registry import MODELS
from mlic.utils import load_config, register_all_modules
from mlic.utils.cli import CfgOptionsAction

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

DATASET_SIZES = {  # (train images, validation images) per epoch
    'coco': (82783, 40504),
    'voc07': (5011, 4952),
    'voc12': (11540, 5823),
}


def _dataset_of(config):
    name = osp.basename(config)
    for key in DATASET_SIZES:
        if name.startswith(key):
            return key
    return 'coco'


def _build(config):

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.model.backbone.pop('init_cfg', None)  # no weights needed here
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    with DefaultScope.overwrite_default_scope('mlic'):
        model = MODELS.build(cfg.model)
    size = cfg.train_dataloader.dataset.pipeline[1]['scale'][0]
    return cfg, model, size


def worker(config, batch):
    """One process: step memory at this batch (fp32), params and FLOPs."""
    torch.manual_seed(0)
    cfg, model, size = _build(config)
    out = dict(size=size, params=sum(p.numel() for p in model.parameters()),
               backbone_params=sum(
                   p.numel() for p in model.backbone.parameters()))
    x = torch.randn(batch, 3, size, size)
    samples = [DataSample().set_gt_label([0, 1]) for _ in range(batch)]
    model.train()
    in_use = malloc_in_use()
    before = in_use()
    tracker = cpu_peak_tracker(in_use)
    with tracker:
        loss = sum(model(x, samples, mode='loss').values())
        loss.backward()
    out['step_bytes'] = tracker.peak - before
    if batch == 1:
        model.eval()
        model.forward = lambda inputs: model.head(model.extract_feat(inputs))
        info = get_model_complexity_info(
            model, inputs=(torch.randn(1, 3, size, size), ),
            show_table=False, show_arch=False)
        out['gmacs'] = info['flops'] / 1e9
    print(json.dumps(out))


def run_worker(flag, config, arg, what):
    """This script as ``flag config arg`` in a fresh process; the JSON
    line it prints last."""
    proc = subprocess.run(
        [sys.executable, osp.abspath(__file__), flag, config, arg],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'{config} ({what}) failed:\n'
                           + proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(config, batch):
    return run_worker('--worker', config, str(batch), f'batch {batch}')


def speed_worker(config, options):
    """One process: the measured speed and memory of ``config``."""
    register_all_modules()
    cfg = load_config(config, options['cfg_options'])
    batch = options['batch'] or cfg.train_dataloader.batch_size
    val_batch = options['val_batch'] or cfg.val_dataloader.batch_size
    # the inference column runs what validation runs (precision, folding)
    val_loop = cfg.get('val_cfg') or {}
    cfg.test_cfg = dict(type='FoldedTestLoop',
                        fp16=bool(val_loop.get('fp16', False)),
                        fold_bn=loop_folds(val_loop, 'val'))
    result = measure_step(cfg, device=options['device'], batch=batch,
                          infer_batch=val_batch, steps=options['steps'],
                          warmup=options['warmup'])
    result.update(size=cfg.train_dataloader.dataset.pipeline[1]['scale'][0],
                  epochs=cfg.train_cfg.max_epochs,
                  evals_per_epoch=2 if ema_hook_cfg(cfg) and
                  val_loop.get('type') == 'DualValLoop' else 1)
    print(json.dumps(result))


def gpu_hours(result, train_images, val_images):
    """Hours for the schedule at the measured throughput (no data loading)."""
    seconds = (train_images / result['train_img_s'] + result[
        'evals_per_epoch'] * val_images / result['infer_img_s'])
    return result['epochs'] * seconds / 3600


def measure_speed(config, options):
    return run_worker('--speed-worker', config, json.dumps(options),
                      f'measured on {options["device"]}')


def measured_table(configs, options):
    """Markdown rows of measured speed and memory; the results, with
    ``gpu_hours`` added."""
    device = options['device']
    print(f'Measured on {device}: median of {options["steps"]} steps after '
          f'{options["warmup"]} warm-up, random weights and images')
    print('| config | res | batch | train ms/step | train img/s | '
          'memory/GPU (GB): held + step peak | val batch (precision) | '
          'val img/s | hours for its epochs, one device |')
    print('|---|---|---|---|---|---|---|---|---|')
    results = []
    for config in configs:
        r = measure_speed(config, options)
        r['config'] = osp.relpath(osp.abspath(config), ROOT)
        r['gpu_hours'] = None  # a dataset of unknown size: no hours
        if osp.basename(config).startswith(tuple(DATASET_SIZES)):
            train, val = DATASET_SIZES[_dataset_of(config)]
            r['gpu_hours'] = gpu_hours(r, train, val)
        hours = '-' if r['gpu_hours'] is None else \
            f'{r["gpu_hours"]:.1f} ({r["epochs"]} epochs)'
        held = r['resident_bytes'] / 1e9
        peak = r['peak_memory_bytes'] / 1e9
        print(f'| {r["config"]} | {r["size"]} | {r["batch"]} | '
              f'{r["train_ms"]:.1f} | {r["train_img_s"]:.1f} | '
              f'{held + peak:.1f} ({held:.1f} + {peak:.1f}) | '
              f'{r["infer_batch"]} ({r["infer_dtype"]}) | '
              f'{r["infer_img_s"]:.1f} | {hours} |', flush=True)
        results.append(r)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*')
    parser.add_argument('--tflops', type=float, default=20.0)
    parser.add_argument('--amp-factor', type=float, default=0.5)
    parser.add_argument('--measure', choices=['cpu', 'cuda'],
                        help='measure speed and memory on this device '
                        'instead of estimating')
    parser.add_argument('--steps', type=int, default=8)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--batch', type=int,
                        help="training batch (default: the config's)")
    parser.add_argument('--val-batch', type=int,
                        help="validation batch (default: the config's)")
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        default={})
    parser.add_argument('--json', help='with --measure: write the results')
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    parser.add_argument('--speed-worker', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]))
    if args.speed_worker:
        return speed_worker(args.speed_worker[0],
                            json.loads(args.speed_worker[1]))
    configs = args.configs or sorted(
        glob.glob(osp.join(ROOT, 'configs', 'q2l_irpe', 'coco_*.py')) +
        glob.glob(osp.join(ROOT, 'configs', 'q2l_irpe', 'voc*.py')))
    if args.measure:
        options = dict(device=args.measure, steps=args.steps,
                       warmup=args.warmup, batch=args.batch,
                       val_batch=args.val_batch,
                       cfg_options=dict(args.cfg_options))
        results = measured_table(configs, options)
        if args.json:
            write_results(args.json, results, **options)
        return results
    print('| config | res | params (M) (backbone) | GMACs/img | '
          'per-GPU batch | est. train memory/GPU (GB) | est. GPU-hours, '
          '80 epochs |')
    print('|---|---|---|---|---|---|---|')
    for config in configs:
        cfg = Config.fromfile(config)
        m1, m2 = measure(config, 1), measure(config, 2)
        per_image = max(m2['step_bytes'] - m1['step_bytes'], 0)
        batch = cfg.train_dataloader.batch_size
        memory = (5 * 4 * m1['params'] +
                  batch * per_image * args.amp_factor) / 1e9
        train, val = DATASET_SIZES[_dataset_of(config)]
        epochs = cfg.train_cfg.max_epochs
        flops = 2 * m1['gmacs'] * 1e9 * (3 * train + 2 * val) * epochs
        hours = flops / (args.tflops * 1e12) / 3600
        print(f'| {osp.relpath(config, ROOT)} | {m1["size"]} | '
              f'{m1["params"] / 1e6:.0f} ({m1["backbone_params"] / 1e6:.0f}) '
              f'| {m1["gmacs"]:.0f} | {batch} | {memory:.0f} | '
              f'{hours:.0f} |', flush=True)


if __name__ == '__main__':
    main()
