"""Speed and memory of a config's training step and inference (what
tools/analysis_tools/benchmark.py and compare_query2label.py print).

The training step is the config's: the data preprocessor, the model's
forward and loss, backward, the config's optimizer wrapper (AMP, clipping)
and, when the config has one, the update of the averaged model its EMA hook
builds. Each phase (data, forward, backward, optimizer, EMA) is timed on its
own (with a device sync), the median over the timed steps after warm-up;
img/s is batch / median step time. Inference: the model's test step. Peak
memory: on CUDA ``max_memory_allocated`` during one step; on CPU the peak of
malloc's in-use bytes during one step (mlic.utils.memory), each minus the
memory in use before the step. Pretrained weights are not loaded (the speed
is the same).
"""
import copy
import statistics
import time

PHASES = ('data', 'forward', 'backward', 'optimizer', 'ema')


def train_size(cfg):
    """(h, w) of the training pipeline's Resize (224 x 224 without one)."""
    from mlic.utils import pipeline_resize
    return pipeline_resize(cfg.train_dataloader.dataset.get(
        'pipeline', [])) or (224, 224)


def random_batch(cfg, batch, num_classes, seed=0):
    """``batch`` random uint8 images at the config's training size, each
    with 1-3 random labels (a seeded generator: the same every call)."""
    import torch
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    h, w = train_size(cfg)
    inputs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                            generator=g) for _ in range(batch)]
    samples = []
    for _ in range(batch):
        k = int(torch.randint(1, 4, (1, ), generator=g))
        labels = torch.randperm(num_classes, generator=g)[:k]
        samples.append(DataSample().set_gt_label(labels))
    return dict(inputs=inputs, data_samples=samples)


def ema_hook_cfg(cfg):
    """The config's EMA hook entry (default or custom), or None."""
    hooks = list((cfg.get('default_hooks') or {}).values()) + list(
        cfg.get('custom_hooks') or [])
    for hook in hooks:
        if isinstance(hook, dict) and 'EMA' in str(hook.get('type', '')):
            return hook
    return None


def build_model(cfg):
    """The config's model with random weights (the speed is the same)."""
    import torch

    from mlic.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor'):
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg['backbone']['init_cfg'] = None
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def measure(cfg, *, device='cpu', batch=2, infer_batch=None, amp=None,
            steps=8, warmup=3, with_data=False, model=None):
    """Time ``cfg``'s training step and inference; returns a dict of
    medians (ms), img/s and peak memory (bytes).

    Args:
        device: 'cpu' or 'cuda[:N]'.
        batch, infer_batch: images per training / inference step
            (``infer_batch`` defaults to ``batch``).
        amp: None (the config's optimizer wrapper), 'fp16' or 'bf16'.
        steps, warmup: timed steps (the median is reported) after warm-up.
        with_data: batches of the config's train dataloader (timed as
            "data") instead of one fixed random batch.
        model: an mmengine model to time in the config's step instead of
            the config's own (it must take ``mode='loss'``, ``test_step``).
    """
    import torch
    from mmengine.optim import build_optim_wrapper

    from mlic.engine.cpu import cpu_optim_wrapper_cfg
    from mlic.registry import MODELS
    device = torch.device(device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'device {device}: no GPU here')
    sync = (lambda: torch.cuda.synchronize()) if device.type == 'cuda' \
        else (lambda: None)
    model = (build_model(cfg) if model is None else model).to(device)
    model.train()
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        optim_cfg['type'] = 'AmpOptimWrapper'
        optim_cfg['dtype'] = 'float16' if amp == 'fp16' else 'bfloat16'
    if device.type == 'cpu':
        optim_cfg = cpu_optim_wrapper_cfg(optim_cfg, logger_print=lambda m:
                                          None)
    optim = build_optim_wrapper(model, optim_cfg)
    ema = None
    ema_cfg = ema_hook_cfg(cfg)
    if ema_cfg is not None:
        # The averaged model the config's EMA hook builds (its ema_type).
        from mlic.registry import HOOKS
        hook = HOOKS.build(copy.deepcopy(ema_cfg))
        ema = MODELS.build(copy.deepcopy(hook.ema_cfg),
                           default_args=dict(model=model))
    num_classes = int(cfg.model.head.num_classes)
    loader = None
    if with_data:
        from mlic.engine import MLICRunner
        loader_cfg = copy.deepcopy(cfg.train_dataloader)
        loader_cfg['batch_size'] = batch
        loader = iter(MLICRunner.build_dataloader(loader_cfg, seed=0))
    fixed = random_batch(cfg, batch, num_classes)

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

    for _ in range(warmup):
        step()
    records = [step() for _ in range(steps)]
    phases = {p: statistics.median(r[p] for r in records) for p in PHASES}
    totals = [sum(r.values()) for r in records]
    train_ms = statistics.median(totals)
    compute_ms = statistics.median(t - r['data']
                                   for t, r in zip(totals, records))
    memory = peak_memory(step, device)

    infer_batch = infer_batch or batch
    infer_data = random_batch(cfg, infer_batch, num_classes, seed=1)
    model.eval()
    with torch.no_grad():
        for _ in range(warmup):
            model.test_step(infer_data)
        infer_times = [timed(lambda: model.test_step(infer_data))[1]
                       for _ in range(steps)]
    infer_ms = statistics.median(infer_times)
    return dict(
        train_ms=train_ms, train_img_s=batch / train_ms * 1000.0,
        train_compute_img_s=batch / compute_ms * 1000.0,
        phases_ms=phases, peak_memory_bytes=memory,
        infer_ms=infer_ms, infer_img_s=infer_batch / infer_ms * 1000.0,
        batch=batch, infer_batch=infer_batch,
        dtype=dtype_label(optim_cfg), device=str(device))


def dtype_label(optim_cfg):
    """What the step really computes in (the config's or --amp's AMP)."""
    kind = optim_cfg.get('type', 'OptimWrapper')
    if kind == 'CPUAmpOptimWrapper':
        return 'bf16 autocast'
    if kind == 'AmpOptimWrapper':
        dtype = str(optim_cfg.get('dtype', None) or 'float16')
        return 'bf16 autocast' if 'bfloat16' in dtype else 'fp16 autocast'
    return 'fp32'


def peak_memory(step, device):
    """Bytes allocated above the level before one call of ``step``."""
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


def add_ratios(results):
    """Each result's train / inference time as a ratio to the first's."""
    base = results[0]
    for r in results:
        r['train_time_ratio'] = r['train_ms'] / base['train_ms']
        r['infer_time_ratio'] = r['infer_ms'] / base['infer_ms']
    return results


def format_table(results, title, steps, warmup):
    """The printed table: one row per result (after :func:`add_ratios`)."""
    base = results[0]
    lines = [f'{title} on {base["device"]}, {base["dtype"]}, train batch '
             f'{base["batch"]}, inference batch {base["infer_batch"]}, '
             f'median of {steps} after {warmup} warm-up',
             f'{"variant":<40} {"ms/step":>9} {"img/s":>8} {"x":>6} '
             + ' '.join(f'{p:>9}' for p in PHASES)
             + f' {"peak MB":>8} {"infer img/s":>11} {"x":>6}']
    for r in results:
        lines.append(
            f'{r["variant"][:40]:<40} {r["train_ms"]:9.1f} '
            f'{r["train_img_s"]:8.2f} {r["train_time_ratio"]:6.2f} '
            + ' '.join(f'{r["phases_ms"][p]:9.1f}' for p in PHASES)
            + f' {r["peak_memory_bytes"] / 2**20:8.1f} '
            f'{r["infer_img_s"]:11.2f} {r["infer_time_ratio"]:6.2f}')
    return '\n'.join(lines)
