"""Speed and memory of a config's training step and inference.

    python tools/analysis_tools/benchmark.py CONFIG [--device cpu|cuda]
        [--batch N] [--amp fp16|bf16] [--steps N] [--warmup N] [--with-data]
        [--infer-batch N] [--cfg-options k=v ...]
        [--compare 'k=v k=v' ...] [--json FILE]

The training step is the config's: the data preprocessor, the model's
forward and loss, backward, the config's optimizer wrapper (AMP, clipping)
and, when the config has one, the EMA update of its EMA hook. Each phase
(data, forward, backward, optimizer, EMA) is timed on its own (with a
device sync), the median over ``--steps`` steps after ``--warmup``; img/s
is batch / median step time. Inference: the model's test step on
``--infer-batch`` images. Peak memory: on CUDA ``max_memory_allocated``
during one step; on CPU the peak of malloc's in-use bytes during one step
(mlic.utils.memory), each minus the memory in use before the step.

Inputs are random images at the config's training size (or, with
``--with-data``, batches of the config's real train dataloader, whose
loading time is then the "data" phase). Pretrained weights are not loaded
(the speed is the same). ``--compare`` measures each variant (a string of
``k=v`` overrides on top of ``--cfg-options``; '' is the config itself) in
the same run and prints each as a ratio to the first. Timings are
benchmarks: report them with the machine, batch and dtype.
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import time

PHASES = ('data', 'forward', 'backward', 'optimizer', 'ema')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=2,
                        help='training images per step (default 2)')
    parser.add_argument('--infer-batch', type=int,
                        help='inference images per step (default --batch)')
    parser.add_argument('--amp', choices=['fp16', 'bf16'],
                        help='mixed precision (fp16 needs a GPU)')
    parser.add_argument('--steps', type=int, default=8)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--with-data', action='store_true',
                        help="use the config's train dataloader")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--compare', nargs='+', default=None,
                        help="variants, each a string 'k=v k=v' ('' = as is)")
    parser.add_argument('--json', help='write the results there')
    return parser.parse_args(argv)


def _options(text):
    from mmengine.config import DictAction
    if not text.strip():
        return {}
    ns = argparse.Namespace()
    DictAction(option_strings=[], dest='o')(None, ns, text.split())
    return ns.o


def _train_size(cfg):
    from mlic.utils import pipeline_resize
    return pipeline_resize(cfg.train_dataloader.dataset.get(
        'pipeline', [])) or (224, 224)


def _random_batch(cfg, batch, num_classes, seed=0):
    import torch
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    h, w = _train_size(cfg)
    inputs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                            generator=g) for _ in range(batch)]
    samples = []
    for _ in range(batch):
        k = int(torch.randint(1, 4, (1, ), generator=g))
        labels = torch.randperm(num_classes, generator=g)[:k]
        samples.append(DataSample().set_gt_label(labels))
    return dict(inputs=inputs, data_samples=samples)


def _ema_hook_cfg(cfg):
    hooks = list((cfg.get('default_hooks') or {}).values()) + list(
        cfg.get('custom_hooks') or [])
    for hook in hooks:
        if isinstance(hook, dict) and 'EMA' in str(hook.get('type', '')):
            return hook
    return None


def measure(cfg, args):
    """One variant: dict of medians (ms), img/s and memory (bytes)."""
    import torch
    from mmengine.optim import build_optim_wrapper

    from mlic.engine.cpu import cpu_optim_wrapper_cfg
    from mlic.registry import MODELS
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == 'cuda' \
        else (lambda: None)
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor'):
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg['backbone']['init_cfg'] = None  # random weights: same speed
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    model.train()
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if args.amp:
        optim_cfg['type'] = 'AmpOptimWrapper'
        optim_cfg['dtype'] = 'float16' if args.amp == 'fp16' else 'bfloat16'
    if device.type == 'cpu':
        optim_cfg = cpu_optim_wrapper_cfg(optim_cfg, logger_print=lambda m:
                                          None)
    optim = build_optim_wrapper(model, optim_cfg)
    ema = None
    ema_cfg = _ema_hook_cfg(cfg)
    if ema_cfg is not None:
        from mmengine.model import ExponentialMovingAverage
        decay = ema_cfg.get('decay', 1 - ema_cfg.get('momentum', 0.0002))
        ema = ExponentialMovingAverage(model, momentum=1 - decay,
                                       update_buffers=ema_cfg.get(
                                           'update_buffers', False))
    num_classes = int(model.head.num_classes)
    loader = None
    if args.with_data:
        from mlic.engine import MLICRunner
        loader_cfg = copy.deepcopy(cfg.train_dataloader)
        loader_cfg['batch_size'] = args.batch
        loader = iter(MLICRunner.build_dataloader(loader_cfg, seed=0))
    fixed = _random_batch(cfg, args.batch, num_classes)

    def timed(fn):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        return out, (time.perf_counter() - t) * 1000.0

    def step():
        times = {}
        data, times['data'] = timed(
            (lambda: next(loader)) if loader is not None else (lambda: fixed))

        def forward():
            with optim.optim_context(model):
                batch = model.data_preprocessor(data, True)
                losses = model(**batch, mode='loss')
            parsed, _ = model.parse_losses(losses)
            return parsed
        loss, times['forward'] = timed(forward)
        _, times['backward'] = timed(lambda: optim.backward(loss))

        def update():
            optim.step()
            optim.zero_grad()
        _, times['optimizer'] = timed(update)
        _, times['ema'] = timed(
            (lambda: ema.update_parameters(model)) if ema is not None
            else (lambda: None))
        return times

    for _ in range(args.warmup):
        step()
    records = [step() for _ in range(args.steps)]
    phases = {p: statistics.median(r[p] for r in records) for p in PHASES}
    totals = [sum(r.values()) for r in records]
    train_ms = statistics.median(totals)
    compute_ms = statistics.median(t - r['data']
                                   for t, r in zip(totals, records))
    memory = _peak_memory(step, device)

    infer_batch = args.infer_batch or args.batch
    infer_data = _random_batch(cfg, infer_batch, num_classes, seed=1)
    model.eval()
    with torch.no_grad():
        for _ in range(args.warmup):
            model.test_step(infer_data)
        infer_times = [timed(lambda: model.test_step(infer_data))[1]
                       for _ in range(args.steps)]
    infer_ms = statistics.median(infer_times)
    return dict(
        train_ms=train_ms, train_img_s=args.batch / train_ms * 1000.0,
        train_compute_img_s=args.batch / compute_ms * 1000.0,
        phases_ms=phases, peak_memory_bytes=memory,
        infer_ms=infer_ms, infer_img_s=infer_batch / infer_ms * 1000.0,
        batch=args.batch, infer_batch=infer_batch,
        dtype=_dtype_label(optim_cfg), device=str(device))


def _dtype_label(optim_cfg):
    """What the step really computes in (the config's or --amp's AMP)."""
    kind = optim_cfg.get('type', 'OptimWrapper')
    if kind == 'CPUAmpOptimWrapper':
        return 'bf16 autocast'
    if kind == 'AmpOptimWrapper':
        dtype = str(optim_cfg.get('dtype', None) or 'float16')
        return 'bf16 autocast' if 'bfloat16' in dtype else 'fp16 autocast'
    return 'fp32'


def _peak_memory(step, device):
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - before)
    from mlic.utils.memory import cpu_peak_tracker, malloc_in_use
    in_use = malloc_in_use()
    before = in_use()
    tracker = cpu_peak_tracker(in_use)
    with tracker:
        step()
    return int(tracker.peak - before)


def main(argv=None):
    args = parse_args(argv)
    import torch

    from mlic.utils import load_config, register_all_modules
    register_all_modules()
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError('--device cuda: no GPU here')
    variants = args.compare if args.compare is not None else ['']
    results = []
    for text in variants:
        cfg = load_config(args.config, args.cfg_options)
        cfg.merge_from_dict(_options(text))
        result = measure(cfg, args)
        result['variant'] = text or '(config)'
        results.append(result)
    base = results[0]
    for r in results:
        r['train_time_ratio'] = r['train_ms'] / base['train_ms']
        r['infer_time_ratio'] = r['infer_ms'] / base['infer_ms']
    print(f'{args.config} on {base["device"]}, {base["dtype"]}, train batch '
          f'{base["batch"]}, inference batch {base["infer_batch"]}, median of '
          f'{args.steps} after {args.warmup} warm-up')
    head = (f'{"variant":<32} {"ms/step":>9} {"img/s":>8} {"x":>6} '
            + ' '.join(f'{p:>9}' for p in PHASES)
            + f' {"peak MB":>8} {"infer img/s":>11} {"x":>6}')
    print(head)
    for r in results:
        print(f'{r["variant"][:32]:<32} {r["train_ms"]:9.1f} '
              f'{r["train_img_s"]:8.2f} {r["train_time_ratio"]:6.2f} '
              + ' '.join(f'{r["phases_ms"][p]:9.1f}' for p in PHASES)
              + f' {r["peak_memory_bytes"] / 2**20:8.1f} '
              f'{r["infer_img_s"]:11.2f} {r["infer_time_ratio"]:6.2f}')
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, results=results), f, indent=2)
    return results


if __name__ == '__main__':
    main()
