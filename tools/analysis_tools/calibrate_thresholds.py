"""Per-class thresholds that maximise each class's F1 on validation scores.

    python tools/test.py CONFIG CKPT --out val_preds.npz
    python tools/analysis_tools/calibrate_thresholds.py val_preds.npz \
        --out thresholds.json [--default 0.5] [--min-positives 5]
        [--prior 0] [--holdout other_preds.npz]

Reads the ``--out`` file of tools/test.py (scores, targets, class names),
picks a threshold per class (mlic.evaluation.thresholds: ties -> the
highest threshold; a class with fewer than --min-positives positives keeps
--default, and so does one without any; --prior shrinks each fitted
threshold toward --default as a pseudo-count of that many positives),
writes ``{"thresholds": {class: thr}, ...}`` with CP/CR/CF1/OP/OR/OF1 at
the default and at the calibrated thresholds on the calibration set - and,
with --holdout (predictions of images not used to calibrate), on that set,
which is the number to trust - and prints them. Use the file with
``tools/test.py --thr-file``, ``tools/infer.py --thr-file``,
``export_onnx.py --thr-file`` or ``MultiLabelInferencer(thresholds=...)``.
"""
import argparse
import json

import numpy as np

from mlic.evaluation import (calibrate_thresholds, load_predictions,
                             multilabel_metrics)
from mlic.fileio import atomic_write, check_output_path

SIX = ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


def _six(scores, targets, thr):
    found = multilabel_metrics(scores, targets, thr=thr)
    return {k: float(found[k]) for k in SIX}


def calibrate(data, criterion='f1', default=0.5, min_positives=5,
              prior=0.0, holdout=None):
    scores, targets = np.asarray(data['scores']), np.asarray(data['targets'])
    found = calibrate_thresholds(scores, targets, default, criterion,
                                 min_positives, prior)
    classes = list(data['classes'])
    metrics = {
        f'thr_{default:g}': _six(scores, targets, default),
        'calibrated': _six(scores, targets, found['thresholds']),
    }
    if holdout is not None:
        if list(holdout['classes']) != classes:
            raise ValueError('--holdout has other classes (or another '
                             'order) than the calibration predictions')
        hs, ht = np.asarray(holdout['scores']), np.asarray(
            holdout['targets'])
        metrics[f'holdout_thr_{default:g}'] = _six(hs, ht, default)
        metrics['holdout_calibrated'] = _six(hs, ht, found['thresholds'])
    return {
        'criterion': criterion,
        'default': default,
        'min_positives': min_positives,
        'prior': prior,
        'thresholds': {c: float(t)
                       for c, t in zip(classes, found['thresholds'])},
        'positives': {c: int(n) for c, n in zip(classes,
                                                found['positives'])},
        # labels of each class that were known (unknown and ignored ones,
        # target -1, take no part in the fit)
        'known': {c: int(n) for c, n in zip(classes,
                                            (targets >= 0).sum(axis=0))},
        'no_positives': [classes[i] for i in found['no_positives']],
        'too_few_positives': [classes[i] for i in found['too_few']],
        'metrics': metrics,
        'images': int(scores.shape[0]),
        'holdout_images': int(holdout['scores'].shape[0]) if holdout
        is not None else 0,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('preds', help='tools/test.py --out file (.npz)')
    parser.add_argument('--out', required=True, help='thresholds .json')
    parser.add_argument('--criterion', default='f1', choices=['f1'])
    parser.add_argument('--default', type=float, default=0.5,
                        help='threshold of classes that are not fitted')
    parser.add_argument('--min-positives', type=int, default=5,
                        help='fit a class only with at least this many '
                        'positives (default 5)')
    parser.add_argument('--prior', type=float, default=0.0,
                        help='shrink toward --default with this pseudo-count '
                        'of positives (default 0: no shrinkage)')
    parser.add_argument('--holdout', help='predictions of other images: '
                        'report the metrics there too')
    args = parser.parse_args(argv)
    check_output_path(args.out, '--out')
    holdout = load_predictions(args.holdout) if args.holdout else None
    result = calibrate(load_predictions(args.preds), args.criterion,
                       args.default, args.min_positives, args.prior, holdout)
    with atomic_write(args.out) as f:
        json.dump(result, f, indent=2)
    head = ' '.join(f'{k:>7}' for k in SIX)
    print(f'{"":>22} {head}')
    for name, values in result['metrics'].items():
        print(f'{name:>22} ' + ' '.join(f'{values[k]:7.2f}' for k in SIX))
    if result['no_positives']:
        print(f'{len(result["no_positives"])} class(es) without positives '
              f'keep {args.default}: {result["no_positives"][:10]}')
    if result['too_few_positives']:
        print(f'{len(result["too_few_positives"])} class(es) with fewer than '
              f'{args.min_positives} positives keep {args.default}: '
              f'{result["too_few_positives"][:10]}')
    known = np.array(list(result['known'].values()))
    if (known < result['images']).any():
        fewest = min(result['known'], key=result['known'].get)
        print(f'Only known labels count: {int(known.sum())} of '
              f'{known.size * result["images"]} (per class '
              f'{int(known.min())}-{int(known.max())}, fewest: {fewest!r}; '
              'all in the "known" entry of the file)')
    print(f'Saved {len(result["thresholds"])} thresholds to {args.out} '
          f'(calibrated on {result["images"]} images)')
    return result


if __name__ == '__main__':
    main()
