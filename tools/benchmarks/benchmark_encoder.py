"""Forward+backward time and peak memory of the IRPE encoder blocks.

For each (d_model, heads, grid) setting, batch 4, it measures the
self-attention block (qkv projection, attention, output projection) and one
whole encoder layer (+ FFN of 4 x d_model) with IRPE off, on 'k' and on
'qkv' (product method, contextual mode, shared tables), and prints each
as a ratio to "off" measured in the same run.

Memory is "the memory the training step adds": on CUDA,
``max_memory_allocated`` during the step minus the memory allocated before
it; on CPU, the peak of the bytes malloc has handed out (glibc
``mallinfo2``: in-use heap + mmapped chunks), sampled after every PyTorch
operator of the forward and backward pass (a dispatch mode), minus the
bytes in use before the step. Unlike the process's resident set, this is
not blurred by code pages or by memory the allocator keeps after a free.
Each measurement runs in its own process.

    python tools/benchmarks/benchmark_encoder.py [--device cuda] [--repeat 5] [--rounds N]
"""
import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys
import time

import torch

from mlic.benchmarking.memory import cpu_peak_tracker, malloc_in_use
from mlic.models.layers import IRPEAttention, IRPEEncoderLayer

SETTINGS = [(2048, 4, 14, 14), (2048, 4, 18, 18), (1024, 8, 12, 12)]
RPES = {
    'off': None,
    'k': dict(method='product', mode='contextual', ratio=1.9,
              shared_head=True, on='k'),
    'qkv': dict(method='product', mode='contextual', ratio=1.9,
                shared_head=True, on='qkv'),
}


def worker(spec):

    device = torch.device(spec['device'])
    torch.manual_seed(0)
    d, heads, h, w = spec['setting']
    rpe = RPES[spec['rpe']]
    if spec['block'] == 'attention':
        module = IRPEAttention(d, heads, attn_drop=0.0, rpe=rpe)
    else:
        module = IRPEEncoderLayer(d, heads, 4 * d, dropout=0.0, rpe=rpe)
    module = module.to(device).train()
    x = torch.randn(spec['batch'], h * w, d, device=device,
                    requires_grad=True)
    grad = torch.randn_like(x)

    dtype = getattr(torch, spec.get('dtype', 'float32'))

    def step():
        with torch.autocast(device.type, dtype=dtype,
                            enabled=dtype != torch.float32):
            out = module(x, h, w)
        out.float().backward(grad)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    # One tiny step first: it loads code pages and lazily initialised
    # state, which on a CPU would otherwise count as resident memory of
    # the measured step. Its own allocations are a few kilobytes.
    small = torch.randn(1, 4, d, device=device, requires_grad=True)
    with torch.autocast(device.type, dtype=dtype,
                        enabled=dtype != torch.float32):
        module(small, 2, 2).float().sum().backward()
    module.zero_grad(set_to_none=True)
    # Memory of the first full-size step.
    if device.type == 'cuda':
        sync()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        sync()
        mem = torch.cuda.max_memory_allocated() - before
    else:
        in_use = malloc_in_use()
        before = in_use()
        tracker = cpu_peak_tracker(in_use)
        with tracker:
            step()
        mem = tracker.peak - before
    for _ in range(spec['warmup']):
        step()
    times = []
    for _ in range(spec['repeat']):
        module.zero_grad(set_to_none=True)
        x.grad = None
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    print(json.dumps(dict(time=statistics.median(times), mem=mem)))


def measure(spec):
    out = subprocess.run(
        [sys.executable, osp.abspath(__file__), '--worker',
         json.dumps(spec)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=1,
                        help='rounds of off/k/qkv per setting, interleaved; '
                        'the median over the rounds is printed')
    parser.add_argument('--dtype', default='float32',
                        choices=['float32', 'bfloat16', 'float16'],
                        help='autocast dtype (float32: none)')
    parser.add_argument('--blocks', nargs='+', default=['attention', 'layer'],
                        choices=['attention', 'layer'])
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))

    print(f'device={args.device} torch={torch.__version__} '
          f'threads={torch.get_num_threads()} batch={args.batch} '
          f'dtype={args.dtype} '
          f'repeat={args.repeat} (median) rounds={args.rounds}')
    header = (f"{'block':<10}{'setting':<18}{'rpe':<5}{'time ms':>10}"
              f"{'x off':>8}{'mem MB':>10}{'x off':>8}")
    print(header)
    print('-' * len(header))
    rows = []
    for block in args.blocks:
        for setting in SETTINGS:
            runs = {name: [] for name in RPES}
            for _ in range(args.rounds):  # interleaved: off, k, qkv, off, ..
                for name in RPES:
                    runs[name].append(measure(dict(
                        device=args.device, setting=setting, rpe=name,
                        block=block, batch=args.batch, repeat=args.repeat,
                        warmup=args.warmup, dtype=args.dtype)))
            base = None
            for name in RPES:
                res = dict(runs[name][0], time=statistics.median(
                    r['time'] for r in runs[name]))
                base = base or res
                d, heads, h, w = setting
                label = f'{d}/{heads}h/{h}x{w}'
                row = (f'{block:<10}{label:<18}{name:<5}'
                       f"{res['time'] * 1e3:>10.1f}"
                       f"{res['time'] / base['time']:>8.2f}"
                       f"{res['mem'] / 2**20:>10.1f}"
                       f"{res['mem'] / max(base['mem'], 1):>8.2f}")
                print(row, flush=True)
                rows.append(dict(block=block, setting=label, rpe=name, **res))
    return rows


if __name__ == '__main__':
    main()
