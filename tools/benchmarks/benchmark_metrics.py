"""Time and memory of mlic.evaluation.multilabel_metrics as N x C grows.

    python tools/benchmarks/benchmark_metrics.py [--num 40504]
        [--classes 80] [--labels 3] [--targets dense|bool|sparse]
        [--repeat 3] [--topk 3]

Random float32 scores (positives shifted up) and ``--labels`` positives per
image on average. Prints the median time with and without top-k, and the
peak memory the metrics allocate above their inputs (tracemalloc, which
numpy reports its arrays to).

    python tools/benchmarks/benchmark_metrics.py --num 41620 \
        --classes 9605 --labels 2 --known-negatives 6

times the validation metric (MLICMetric: process() per batch of 64, then
evaluate()) on images whose unlisted classes are unknown (OpenImages: a
few verified labels of 9,605 classes), with the peak memory it allocates
above the scores.
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


def metric_with_unknowns(args):
    import torch

    from mlic.evaluation import MLICMetric
    scores, _ = make_inputs(args.num, args.classes, args.labels, 'bool')
    rng = np.random.default_rng(1)
    samples = []
    for i in range(args.num):
        pos = np.flatnonzero(scores[i] >= 0.4)[:8]
        neg = rng.choice(args.classes, args.known_negatives, replace=False)
        samples.append(dict(gt_label=torch.as_tensor(pos),
                            gt_label_negative=np.setdiff1d(neg, pos).tolist(),
                            pred_score=torch.from_numpy(scores[i]),
                            img_path=f'{i}.jpg'))
    print(f'MLICMetric: {args.num} images x {args.classes} classes, '
          f'{args.known_negatives} known negatives an image, the rest '
          f'unknown; scores {scores.nbytes / 2**20:.0f} MiB; '
          f'{platform.processor() or platform.machine()}')
    tracemalloc.start()
    t0 = time.perf_counter()
    metric = MLICMetric()
    for b in range(0, args.num, 64):
        metric.process(None, samples[b:b + 64])
    t1 = time.perf_counter()
    held = tracemalloc.get_traced_memory()[0]
    res = metric.evaluate(args.num)
    t2 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f'  process {t1 - t0:.1f} s, holding {held / 2**20:.0f} MiB; '
          f'evaluate {t2 - t1:.1f} s; peak {peak / 2**20:.0f} MiB '
          f'allocated; mAP {res["mAP"]:.2f}')


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
    parser.add_argument('--known-negatives', type=int, default=None,
                        help='the validation metric on images with this '
                        'many known negatives, the rest unknown')
    args = parser.parse_args(argv)
    if args.known_negatives is not None:
        return metric_with_unknowns(args)
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
