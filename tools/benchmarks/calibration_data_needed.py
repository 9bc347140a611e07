"""How much labelled data per-class threshold calibration needs, on your
own predictions.

    python tools/test.py CONFIG CKPT --out val_preds.npz
    python tools/benchmarks/calibration_data_needed.py val_preds.npz \
        [--holdout-images 500] [--sizes 30 60 125 250 500] [--draws 5] \
        [--prior 10] [--json F]

Splits the images of the file once (seeded) into a held-out set of
``--holdout-images`` and a pool; for each size ``n`` and each draw, picks
``n`` random images of the pool, calibrates thresholds on them
(``mlic.evaluation.calibrate_thresholds``) in three ways - every class
fitted (``min_positives=1``), the tool's default (``min_positives=5``) and
that with ``--prior`` - and prints the change of CF1 and OF1 on the
held-out images against the default threshold: the mean over the draws
and the worst draw, and how many classes kept the default. The table in
docs/custom_dataset.md was made with it.
"""
import argparse
import json

import numpy as np

from mlic.evaluation import (calibrate_thresholds, load_predictions,
                             multilabel_metrics)
from mlic.fileio import atomic_write, check_output_path


def variants(prior):
    return (('every class fitted', 1, 0.0), ('min_positives=5', 5, 0.0),
            (f'min_positives=5, prior={prior:g}', 5, prior))


def split(num_images, holdout_images, seed=0):
    """(held-out indices, pool indices): one seeded permutation."""
    if not 0 < holdout_images < num_images:
        raise ValueError(f'--holdout-images {holdout_images}: the file has '
                         f'{num_images} images; leave some for the pool')
    perm = np.random.default_rng(seed).permutation(num_images)
    return perm[:holdout_images], perm[holdout_images:]


def gain(scores, targets, calib_idx, hold_idx, default, min_positives,
         prior):
    """CF1 and OF1 change on the held-out images (calibrated on
    ``calib_idx`` minus the default threshold) and the classes that kept
    the default."""
    found = calibrate_thresholds(scores[calib_idx], targets[calib_idx],
                                 default, min_positives=min_positives,
                                 prior=prior)
    base = multilabel_metrics(scores[hold_idx], targets[hold_idx],
                              thr=default)
    tuned = multilabel_metrics(scores[hold_idx], targets[hold_idx],
                               thr=found['thresholds'])
    kept = len(found['too_few']) + len(found['no_positives'])
    return (float(tuned['CF1'] - base['CF1']),
            float(tuned['OF1'] - base['OF1']), kept)


def measure(scores, targets, sizes, draws=5, holdout_images=500,
            prior=10.0, default=0.5, seed=0):
    hold, pool = split(len(scores), holdout_images, seed)
    rows = []
    for n in sizes:
        if n > len(pool):
            raise ValueError(f'--sizes {n}: the pool has only {len(pool)} '
                             'images (lower --holdout-images)')
        draws_idx = [np.random.default_rng(seed + 1 + d).choice(
            pool, n, replace=False) for d in range(draws)]
        for name, min_pos, pr in variants(prior):
            got = np.array([gain(scores, targets, idx, hold, default,
                                 min_pos, pr) for idx in draws_idx])
            rows.append(dict(
                images=int(n), variant=name, min_positives=min_pos,
                prior=pr, cf1_mean=float(got[:, 0].mean()),
                cf1_worst=float(got[:, 0].min()),
                of1_mean=float(got[:, 1].mean()),
                of1_worst=float(got[:, 1].min()),
                kept_default=float(got[:, 2].mean())))
    return dict(holdout_images=int(len(hold)), pool_images=int(len(pool)),
                draws=draws, default=default, rows=rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('preds', help='tools/test.py --out file (.npz)')
    parser.add_argument('--holdout-images', type=int, default=500)
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[30, 60, 125, 250, 500])
    parser.add_argument('--draws', type=int, default=5)
    parser.add_argument('--prior', type=float, default=10.0)
    parser.add_argument('--default', type=float, default=0.5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='also write the table as JSON')
    args = parser.parse_args(argv)
    if args.json:
        check_output_path(args.json, '--json')
    data = load_predictions(args.preds)
    result = measure(np.asarray(data['scores']), np.asarray(data['targets']),
                     args.sizes, args.draws, args.holdout_images, args.prior,
                     args.default, args.seed)
    print(f'{result["holdout_images"]} held-out images, calibration drawn '
          f'from {result["pool_images"]}, {args.draws} draws; change '
          f'against thr {args.default:g} on the held-out images, mean '
          '(worst draw)')
    print(f'{"images":>6}  {"variant":<28} {"CF1":>16} {"OF1":>16} '
          'kept default')
    for r in result['rows']:
        print(f'{r["images"]:>6}  {r["variant"]:<28} '
              f'{r["cf1_mean"]:+7.2f} ({r["cf1_worst"]:+6.2f}) '
              f'{r["of1_mean"]:+7.2f} ({r["of1_worst"]:+6.2f}) '
              f'{r["kept_default"]:6.1f}')
    if args.json:
        with atomic_write(args.json) as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
