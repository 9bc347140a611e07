"""Per-class thresholds that maximise each class's F1 on validation scores.

    python tools/test.py CONFIG CKPT --out val_preds.npz
    python tools/analysis_tools/calibrate_thresholds.py val_preds.npz \
        --out thresholds.json [--criterion f1] [--default 0.5]

Reads the ``--out`` file of tools/test.py (scores, targets, class names),
picks a threshold per class (mlic.evaluation.thresholds: ties -> the
highest threshold; classes without positives keep --default), writes
``{"thresholds": {class: thr}, ...}`` with CP/CR/CF1/OP/OR/OF1 at the default
and at the calibrated thresholds, and prints both. Use the file with
``tools/test.py --thr-file``, ``tools/infer.py --thr-file`` or
``MultiLabelInferencer(thresholds=...)``.
"""
import argparse
import json

import numpy as np

from mlic.fileio import atomic_write, check_output_path
from mlic.evaluation import (calibrate_thresholds, load_predictions,
                             multilabel_metrics)

SIX = ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


def calibrate(data, criterion='f1', default=0.5):
    scores, targets = np.asarray(data['scores']), np.asarray(data['targets'])
    found = calibrate_thresholds(scores, targets, default, criterion)
    classes = list(data['classes'])
    at_default = multilabel_metrics(scores, targets, thr=default)
    at_calibrated = multilabel_metrics(scores, targets,
                                       thr=found['thresholds'])
    return {
        'criterion': criterion,
        'default': default,
        'thresholds': {c: float(t)
                       for c, t in zip(classes, found['thresholds'])},
        'no_positives': [classes[i] for i in found['no_positives']],
        'metrics': {
            f'thr_{default:g}': {k: float(at_default[k]) for k in SIX},
            'calibrated': {k: float(at_calibrated[k]) for k in SIX},
        },
        'images': int(scores.shape[0]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('preds', help='tools/test.py --out file (.npz)')
    parser.add_argument('--out', required=True, help='thresholds .json')
    parser.add_argument('--criterion', default='f1', choices=['f1'])
    parser.add_argument('--default', type=float, default=0.5,
                        help='threshold of classes without positives')
    args = parser.parse_args(argv)
    check_output_path(args.out, '--out')
    result = calibrate(load_predictions(args.preds), args.criterion,
                       args.default)
    with atomic_write(args.out) as f:
        json.dump(result, f, indent=2)
    head = ' '.join(f'{k:>7}' for k in SIX)
    print(f'{"":>12} {head}')
    for name, values in result['metrics'].items():
        print(f'{name:>12} ' + ' '.join(f'{values[k]:7.2f}' for k in SIX))
    if result['no_positives']:
        print(f'{len(result["no_positives"])} class(es) without positives '
              f'keep {args.default}: {result["no_positives"][:10]}')
    print(f'Saved {len(result["thresholds"])} thresholds to {args.out}')
    return result


if __name__ == '__main__':
    main()
