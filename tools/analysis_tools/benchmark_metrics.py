"""Time mlic.evaluation.multilabel_metrics on COCO-val-sized inputs.

    python tools/analysis_tools/benchmark_metrics.py [--num 40504] [--classes 80]
"""
import argparse
import time

import numpy as np

from mlic.evaluation import multilabel_metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num', type=int, default=40504)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    targets = (rng.random((args.num, args.classes)) < 0.04).astype(np.int8)
    scores = np.clip(0.5 * targets + rng.random(targets.shape) * 0.6,
                     0, 1).astype(np.float32)
    for topk in (None, 3):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = multilabel_metrics(scores, targets, topk=topk)
            times.append(time.perf_counter() - t0)
        print(f'{args.num} x {args.classes}, topk={topk}: median '
              f'{np.median(times) * 1e3:.0f} ms (mAP {res["mAP"]:.2f})')


if __name__ == '__main__':
    main()
