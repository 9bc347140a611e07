"""Speed and memory of a config's training step and inference (what
tools/benchmarks/benchmark.py and compare_query2label.py print).

The training step is the config's: the data preprocessor, the model's
forward and loss, backward, the config's optimizer wrapper (AMP, clipping)
and, when the config has one, the update of the averaged model its EMA hook
builds. Each phase (data, forward, backward, optimizer, EMA) is timed on its
own (with a device sync), the median over the timed steps after warm-up;
img/s is batch / median step time. Inference: the model's test step as
``tools/test.py`` runs it (:class:`mlic.engine.EvalPolicy`: the config's
``test_cfg.fp16`` precision, on a BatchNorm-folded copy when its test loop
folds - folded once per ``infer`` call, untimed, as the test loop folds
once per pass). Peak memory: on CUDA ``max_memory_allocated`` during one
step; on CPU the peak of malloc's in-use bytes during one step
(:mod:`mlic.benchmarking.memory`), each minus the memory in use before the
step. Pretrained weights are not loaded (the speed is the same).
"""
import copy
import json
import gc
import statistics
import time

import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mlic.engine import EvalPolicy, MLICRunner
from mlic.engine.policy import optim_wrapper_cfg
from mlic.fileio import atomic_write
from mlic.models import batchnorm_folding
from mlic.registry import HOOKS, MODELS
from mlic.utils import pipeline_resize
from .memory import cpu_peak_tracker, malloc_in_use

PHASES = ('data', 'forward', 'backward', 'optimizer', 'ema')


def train_size(cfg):
    """(h, w) of the training pipeline's Resize (224 x 224 without one)."""
    return pipeline_resize(cfg.train_dataloader.dataset.get(
        'pipeline', [])) or (224, 224)


def random_batch(cfg, batch, num_classes, seed=0):
    """``batch`` random uint8 images at the config's training size, each
    with 1-3 random labels (a seeded generator: the same every call)."""
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
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor'):
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg['backbone']['init_cfg'] = None
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


class StepTimer:
    """One variant, built once: its training step and inference, timed.

    Args:
        cfg: the config.
        device: 'cpu' or 'cuda[:N]'.
        batch, infer_batch: images per training / inference step
            (``infer_batch`` defaults to ``batch``).
        amp: None (the config's optimizer wrapper), 'fp16' or 'bf16'.
        with_data: batches of the config's train dataloader (timed as
            "data") instead of one fixed random batch.
        model: an mmengine model to time in the config's step instead of
            the config's own (it must take ``mode='loss'``, ``test_step``),
            or a function that builds one.
    """

    def __init__(self, cfg, *, device='cpu', batch=2, infer_batch=None,
                 amp=None, with_data=False, model=None):
        self.device = torch.device(device)
        if self.device.type == 'cuda' and not torch.cuda.is_available():
            raise RuntimeError(f'device {device}: no GPU here')
        if model is None:
            model = build_model(cfg)
        elif not isinstance(model, torch.nn.Module):
            model = model()  # a function that builds it
        self.model = model.to(self.device)
        optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        if amp and self.device.type == 'cpu':
            # asked for: bf16 autocast even on a CPU without bf16
            # instructions (where a config's own AMP trains in float32)
            optim_cfg.pop('loss_scale', None)
            optim_cfg.pop('dtype', None)
            optim_cfg['type'] = 'CPUAmpOptimWrapper'
        elif amp:
            optim_cfg['type'] = 'AmpOptimWrapper'
            optim_cfg['dtype'] = 'float16' if amp == 'fp16' else 'bfloat16'
        # on a GPU machine the CPU-only rule leaves the config as it is
        optim_cfg = optim_wrapper_cfg(optim_cfg, logger_print=lambda m: None)
        self.dtype = dtype_label(optim_cfg)
        self.optim = build_optim_wrapper(self.model, optim_cfg)
        self.ema = None
        ema_cfg = ema_hook_cfg(cfg)
        if ema_cfg is not None:
            # The averaged model the config's EMA hook builds (its ema_type).
            hook = HOOKS.build(copy.deepcopy(ema_cfg))
            self.ema = MODELS.build(copy.deepcopy(hook.ema_cfg),
                                    default_args=dict(model=self.model))
        num_classes = int(cfg.model.head.num_classes)
        self.loader = None
        if with_data:
            loader_cfg = copy.deepcopy(cfg.train_dataloader)
            loader_cfg['batch_size'] = batch
            self.loader = MLICRunner.build_dataloader(loader_cfg, seed=0)
            self._batches = iter(self.loader)
        self.batch = batch
        self.infer_batch = infer_batch or batch
        self.fixed = random_batch(cfg, batch, num_classes)
        self.infer_data = random_batch(cfg, self.infer_batch, num_classes,
                                       seed=1)
        self.records, self.infer_times = [], []
        # as tools/test.py runs it
        self.policy = EvalPolicy.from_config(cfg, self.device.type,
                                             logger_print=lambda m: None)
        self.infer_amp = self.policy.amp
        self.infer_dtype = self.policy.precision_name
        self.infer_fold = self.policy.fold_bn
        self.infer_folded = False

    def _timed(self, fn):
        cuda = self.device.type == 'cuda'
        if cuda:
            torch.cuda.synchronize(self.device)
        t = time.perf_counter()
        out = fn()
        if cuda:
            torch.cuda.synchronize(self.device)
        return out, (time.perf_counter() - t) * 1000.0

    def _next_batch(self):
        try:
            return next(self._batches)
        except StopIteration:  # the next epoch of the loader
            self._batches = iter(self.loader)
            return next(self._batches)

    def step(self):
        """One training step; returns the ms of each phase."""
        model, optim, times = self.model, self.optim, {}
        model.train()
        data, times['data'] = self._timed(
            self._next_batch if self.loader is not None
            else (lambda: self.fixed))

        def forward():
            with optim.optim_context(model):
                batch = model.data_preprocessor(data, True)
                losses = model(**batch, mode='loss')
            return model.parse_losses(losses)[0]

        def update():
            optim.step()
            optim.zero_grad()
        loss, times['forward'] = self._timed(forward)
        _, times['backward'] = self._timed(lambda: optim.backward(loss))
        _, times['optimizer'] = self._timed(update)
        _, times['ema'] = self._timed(
            (lambda: self.ema.update_parameters(model))
            if self.ema is not None else (lambda: None))
        return times

    def train(self, steps, record=True):
        out = [self.step() for _ in range(steps)]
        if record:
            self.records += out

    def infer(self, steps, record=True):
        self.model.eval()
        model = self.model
        if self.infer_fold:  # the weights of now, as a test pass folds
            model, report = batchnorm_folding.fold_batchnorm_for_batch(
                self.model, self.infer_data, logger_print=lambda m: None)
            self.infer_folded = report.used
        with torch.no_grad(), self.policy.autocast():
            out = [self._timed(lambda: model.test_step(
                self.infer_data))[1] for _ in range(steps)]
        if record:
            self.infer_times += out

    def result(self):
        """Medians of what was recorded, img/s and one step's peak memory."""
        records = self.records
        phases = {p: statistics.median(r[p] for r in records)
                  for p in PHASES}
        totals = [sum(r.values()) for r in records]
        train_ms = statistics.median(totals)
        compute_ms = statistics.median(t - r['data']
                                       for t, r in zip(totals, records))
        infer_ms = statistics.median(self.infer_times)
        peak, resident = peak_memory(self.step, self.device)
        return dict(
            train_ms=train_ms, train_img_s=self.batch / train_ms * 1000.0,
            train_compute_img_s=self.batch / compute_ms * 1000.0,
            phases_ms=phases,
            peak_memory_bytes=peak,
            resident_bytes=resident,
            infer_ms=infer_ms,
            infer_img_s=self.infer_batch / infer_ms * 1000.0,
            batch=self.batch, infer_batch=self.infer_batch,
            steps_timed=len(records), dtype=self.dtype,
            infer_dtype=self.infer_dtype, infer_bn_folded=self.infer_folded,
            device=str(self.device))


def measure_all(variants, *, steps=8, warmup=3, rounds=1, **options):
    """Time several variants in one run.

    ``variants``: ``(cfg, model_or_None)`` pairs; ``options``: the
    :class:`StepTimer` arguments. ``rounds=1``: one variant after the
    other, each built, timed and freed before the next (one model in
    memory, as in training). ``rounds > 1``: all variants are built, and
    after ``warmup`` steps each, ``rounds`` rounds run ``steps`` timed steps
    of every variant in turn (then the same for inference), so a slow spell
    of the machine hits all variants alike; the medians are over ``rounds *
    steps`` steps. All variants are then in memory at once (about 4 GB each
    for a 200M-parameter model with AdamW and EMA). Returns one result dict
    per variant.
    """
    if rounds == 1:
        results = []
        for cfg, model in variants:
            timer = StepTimer(cfg, model=model, **options)
            timer.train(warmup, record=False)
            timer.train(steps)
            timer.infer(warmup, record=False)
            timer.infer(steps)
            results.append(timer.result())
            del timer, model  # free it before the next variant is built
            gc.collect()
        return results
    timers = [StepTimer(cfg, model=model, **options)
              for cfg, model in variants]
    for timer in timers:
        timer.train(warmup, record=False)
    for _ in range(rounds):
        for timer in timers:
            timer.train(steps)
    for timer in timers:
        timer.infer(warmup, record=False)
    for _ in range(rounds):
        for timer in timers:
            timer.infer(steps)
    return [timer.result() for timer in timers]


def measure(cfg, *, steps=8, warmup=3, model=None, **options):
    """One variant (:func:`measure_all` of one)."""
    return measure_all([(cfg, model)], steps=steps, warmup=warmup,
                       **options)[0]


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
    """``(peak, resident)``: the bytes allocated above the level before one
    call of ``step``, and that level (weights, gradients, optimizer state,
    the EMA copy: what a training process holds between steps)."""
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - before), int(before)
    in_use = malloc_in_use()
    before = in_use()
    tracker = cpu_peak_tracker(in_use)
    with tracker:
        step()
    return int(tracker.peak - before), int(before)


def add_ratios(results):
    """Each result's train / inference time as a ratio to the first's."""
    base = results[0]
    for r in results:
        r['train_time_ratio'] = r['train_ms'] / base['train_ms']
        r['infer_time_ratio'] = r['infer_ms'] / base['infer_ms']
    return results


def format_table(results, title, steps, warmup, rounds=1):
    """The printed table: one row per result (after :func:`add_ratios`)."""
    base = results[0]
    timed = f'{rounds} x {steps}' if rounds > 1 else f'{steps}'
    lines = [f'{title} on {base["device"]}, {base["dtype"]}, train batch '
             f'{base["batch"]}, inference batch {base["infer_batch"]} '
             f'({base["infer_dtype"]}), '
             f'median of {timed} after {warmup} warm-up'
             + (', variants interleaved' if rounds > 1 else ''),
             f'{"variant":<40} {"ms/step":>9} {"img/s":>8} {"x":>6} '
             + ' '.join(f'{p:>9}' for p in PHASES)
             + f' {"peak MB":>8} {"infer img/s":>11} {"x":>6} {"BN fold":>7}']
    for r in results:
        lines.append(
            f'{r["variant"][:40]:<40} {r["train_ms"]:9.1f} '
            f'{r["train_img_s"]:8.2f} {r["train_time_ratio"]:6.2f} '
            + ' '.join(f'{r["phases_ms"][p]:9.1f}' for p in PHASES)
            + f' {r["peak_memory_bytes"] / 2**20:8.1f} '
            f'{r["infer_img_s"]:11.2f} {r["infer_time_ratio"]:6.2f} '
            f'{"yes" if r.get("infer_bn_folded") else "no":>7}')
    return '\n'.join(lines)


def write_results(path, results, **info):
    """``results`` (and ``info``, e.g. the config) as JSON at ``path``."""
    with atomic_write(path) as f:
        json.dump(dict(info, results=results), f, indent=2)
