"""Forward+backward time and peak memory of the IRPE encoder blocks.

For each (d_model, heads, grid) setting, batch 4, it measures the
self-attention block (qkv projection, attention, output projection) and one
whole encoder layer (+ FFN of 4 x d_model) with IRPE off, on 'k' and on
'qkv' (product method, contextual mode, shared tables), and prints each
as a ratio to "off" measured in the same run.

Memory: on CUDA, ``max_memory_allocated`` during the step minus the memory
allocated before it; on CPU, the resident-set high-water mark of a fresh
process during its first step minus its resident set before the step (each
measurement runs in its own process, so the allocator holds no memory from
earlier steps). Both are "the memory the training step adds".

    python tools/analysis_tools/benchmark_encoder.py [--device cuda] [--repeat 5]
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

SETTINGS = [(2048, 4, 14, 14), (2048, 4, 18, 18), (1024, 8, 12, 12)]
RPES = {
    'off': None,
    'k': dict(method='product', mode='contextual', ratio=1.9,
              shared_head=True, on='k'),
    'qkv': dict(method='product', mode='contextual', ratio=1.9,
                shared_head=True, on='qkv'),
}


def _rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def worker(spec):
    import torch

    from mlic.models.utils import IRPEAttention, IRPEEncoderLayer
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

    def step():
        out = module(x, h, w)
        out.backward(grad)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    # Memory of the first step, before any warm-up.
    if device.type == 'cuda':
        sync()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        sync()
        mem = torch.cuda.max_memory_allocated() - before
    else:
        before = _rss_bytes()
        step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        mem = max(peak - before, 0)
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
    parser.add_argument('--blocks', nargs='+', default=['attention', 'layer'],
                        choices=['attention', 'layer'])
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))

    import torch
    print(f'device={args.device} torch={torch.__version__} '
          f'threads={torch.get_num_threads()} batch={args.batch} '
          f'repeat={args.repeat} (median)')
    header = (f"{'block':<10}{'setting':<18}{'rpe':<5}{'time ms':>10}"
              f"{'x off':>8}{'mem MB':>10}{'x off':>8}")
    print(header)
    print('-' * len(header))
    rows = []
    for block in args.blocks:
        for setting in SETTINGS:
            base = None
            for name in RPES:
                res = measure(dict(device=args.device, setting=setting,
                                   rpe=name, block=block, batch=args.batch,
                                   repeat=args.repeat, warmup=args.warmup))
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
