"""Cost of the label-query decoder head as the label space grows.

    python tools/benchmarks/benchmark_head.py [--variants 80 1000:100 ...]
        [--rounds 3] [--batch 2] [--width 2048] [--ffn 8192] [--tokens 14]
        [--device cpu|cuda] [--json out.json]

Each variant is ``C`` (one query per class, the paper's head) or ``C:K``
(K grouped queries, ``QueryDecoderHead(num_queries=K)``). Times one
forward + backward of the head alone (APL loss on random multi-hot
targets) at the width of the ResNet-101 configs (d 2048, FFN 8192, 2
layers, 14 x 14 tokens), float32, rounds interleaved (variant order
shuffled per round, median reported), and the activations autograd keeps
for the backward. Prints one table with the ratio to the first variant.
"""
import argparse
import json
import platform
import random
import statistics
import time

import torch

from mlic.fileio import atomic_write
from mlic.models.heads import QueryDecoderHead
from mlic.utils import register_all_modules


def parse_variant(text):
    classes, _, queries = text.partition(':')
    return int(classes), (int(queries) if queries else None)


def build(classes, queries, args):
    return QueryDecoderHead(
        num_classes=classes, in_channels=args.width, num_layers=2,
        num_heads=4, feedforward_channels=args.ffn, dropout=0.1,
        num_queries=queries).to(args.device).train()


def saved_bytes(head, feats, target):
    """Bytes of the tensors autograd saves for the backward of one step."""
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        key = (t.data_ptr(), t.numel(), t.dtype)
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = head.loss_module(head(feats), target, avg_factor=2)
    loss.backward()
    head.zero_grad(set_to_none=True)
    return total


def step(head, feats, target):
    loss = head.loss_module(head(feats), target, avg_factor=feats[0].shape[0])
    loss.backward()
    head.zero_grad(set_to_none=True)


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--variants', nargs='+',
                        default=['80', '1000', '1000:100', '10000:100'])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--width', type=int, default=2048)
    parser.add_argument('--ffn', type=int, default=8192)
    parser.add_argument('--tokens', type=int, default=14)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules()
    torch.manual_seed(0)
    variants = [parse_variant(v) for v in args.variants]
    feats = (torch.randn(args.batch, args.width, args.tokens, args.tokens,
                         device=args.device), )
    heads, targets, memory = {}, {}, {}
    for c, k in variants:
        heads[(c, k)] = build(c, k, args)
        targets[(c, k)] = (torch.rand(args.batch, c, device=args.device)
                           < 5 / c).float()
        memory[(c, k)] = saved_bytes(heads[(c, k)], feats, targets[(c, k)])
    times = {v: [] for v in variants}
    rng = random.Random(0)
    for _ in range(args.rounds):
        order = list(variants)
        rng.shuffle(order)
        for v in order:
            sync(args.device)
            start = time.perf_counter()
            step(heads[v], feats, targets[v])
            sync(args.device)
            times[v].append(time.perf_counter() - start)
    base = statistics.median(times[variants[0]])
    rows = []
    for c, k in variants:
        ms = statistics.median(times[(c, k)]) * 1000
        rows.append(dict(classes=c, queries=k or c,
                         mode='per-class' if k is None else 'grouped',
                         ms=ms, ratio=ms / (base * 1000),
                         activations_mb=memory[(c, k)] / 2**20,
                         rounds=[t * 1000 for t in times[(c, k)]]))
    info = dict(machine=platform.processor() or platform.machine(),
                device=args.device, threads=torch.get_num_threads(),
                batch=args.batch, dtype='float32', width=args.width,
                ffn=args.ffn, tokens=f'{args.tokens}x{args.tokens}',
                torch=torch.__version__)
    print(f'QueryDecoderHead forward+backward, {info["dtype"]}, batch '
          f'{args.batch}, d {args.width}, FFN {args.ffn}, '
          f'{info["tokens"]} tokens, {args.device} '
          f'({info["threads"]} threads), {args.rounds} rounds interleaved')
    print(f'{"classes":>8} {"queries":>8} {"mode":>9} {"ms":>9} '
          f'{"x first":>8} {"activations MB":>15}')
    for r in rows:
        print(f'{r["classes"]:>8} {r["queries"]:>8} {r["mode"]:>9} '
              f'{r["ms"]:9.1f} {r["ratio"]:8.2f} {r["activations_mb"]:15.1f}')
    if args.json:
        with atomic_write(args.json) as f:
            json.dump(dict(info, results=rows), f, indent=2)
    return rows


if __name__ == '__main__':
    main()
