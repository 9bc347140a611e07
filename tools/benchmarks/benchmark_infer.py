"""Images per second of MultiLabelInferencer over a folder, by the number
of decoding worker processes (what ``tools/infer.py --workers N`` runs).

    python tools/benchmarks/benchmark_infer.py CONFIG [CKPT] FOLDER
        [--workers 0 2] [--batch-size 32] [--limit 2000] [--rounds 2]
        [--device cpu]

Without CKPT the model has random weights (the speed is the same). Rounds
alternate the worker settings; the median img/s of each is printed with
the ratio to the first setting.
"""
import argparse
import os
import platform
import statistics
import time

import torch

from mlic.apis import MultiLabelInferencer, list_images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('paths', nargs='+', help='[CKPT] FOLDER')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 2])
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--limit', type=int, default=2000)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    ckpt, folder = (args.paths if len(args.paths) == 2
                    else (None, args.paths[0]))
    images = list_images(folder)[:args.limit]
    infer = MultiLabelInferencer(args.config, ckpt, device=args.device)
    # warm-up (the BatchNorm fold, allocator)
    infer(images[:args.batch_size], batch_size=args.batch_size)
    rates = {w: [] for w in args.workers}
    for _ in range(args.rounds):
        for workers in args.workers:
            start = time.perf_counter()
            done = sum(len(b) for b in infer.iter_batches(
                images, args.batch_size, workers=workers))
            rates[workers].append(done / (time.perf_counter() - start))
    first = statistics.median(rates[args.workers[0]])
    print(f'{len(images)} images from {folder}, batch {args.batch_size}, '
          f'{args.device}, float32 unless test_cfg.fp16; '
          f'{platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} CPUs, torch {torch.get_num_threads()} threads')
    for workers in args.workers:
        rate = statistics.median(rates[workers])
        print(f'  --workers {workers}: {rate:8.1f} img/s '
              f'({rate / first:.2f}x; rounds '
              f'{", ".join(f"{r:.1f}" for r in rates[workers])})')
    return rates


if __name__ == '__main__':
    main()
