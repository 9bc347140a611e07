"""Time and memory of mlic.evaluation.multilabel_metrics as N x C grows.

    python tools/benchmarks/benchmark_metrics.py [--num 40504]
        [--classes 80] [--labels 3] [--targets dense|bool|sparse]
        [--repeat 3] [--topk 3]

Random float32 scores (positives shifted up) and ``--labels`` positives per
image on average. Prints the median time with and without top-k, and the
peak memory the metrics allocate above their inputs (tracemalloc, which
numpy reports its arrays to).
"""
import argparse
import platform
import time
import tracemalloc

import numpy as np

from mlic.evaluation import SparseLabels, multilabel_metrics


def make_inputs(num, classes, labels, kind, seed=0):
    rng = np.random.default_rng(seed)
    per_image = rng.poisson(labels, num).clip(0, classes)
    rows = [rng.choice(classes, k, replace=False) for k in per_image]
    scores = rng.random((num, classes), dtype=np.float32) * np.float32(0.6)
    for i, r in enumerate(rows):
        scores[i, r] += np.float32(0.4)
    if kind == 'sparse':
        return scores, SparseLabels(rows, classes)
    targets = np.zeros((num, classes), dtype=bool if kind == 'bool'
                       else np.int8)
    for i, r in enumerate(rows):
        targets[i, r] = 1
    return scores, targets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num', type=int, default=40504)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--labels', type=float, default=3.0,
                        help='positives per image (mean)')
    parser.add_argument('--targets', default='dense',
                        choices=['dense', 'bool', 'sparse'])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--topk', type=int, default=3)
    args = parser.parse_args(argv)
    scores, targets = make_inputs(args.num, args.classes, args.labels,
                                  args.targets)
    print(f'{args.num} images x {args.classes} classes, float32 scores '
          f'({scores.nbytes / 2**20:.0f} MiB), {args.targets} targets, '
          f'{platform.processor() or platform.machine()}')
    for topk in (None, args.topk):
        times, peaks = [], []
        for _ in range(args.repeat):
            tracemalloc.start()
            t0 = time.perf_counter()
            res = multilabel_metrics(scores, targets, topk=topk)
            times.append(time.perf_counter() - t0)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        print(f'  topk={topk}: median {np.median(times):.2f} s '
              f'(rounds {", ".join(f"{t:.2f}" for t in times)}), peak '
              f'{max(peaks) / 2**20:.0f} MiB above the inputs; mAP '
              f'{res["mAP"]:.2f}')


if __name__ == '__main__':
    main()
