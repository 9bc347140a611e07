"""Pictures of a test run: per-class AP, precision-recall, score histograms.

    python tools/test.py CONFIG CKPT --out preds.npz
    python tools/analysis_tools/plot_results.py preds.npz --out-dir DIR

Writes, with the numbers behind each picture:
  ap_per_class.png + ap_per_class.csv   (class, AP %, positives; sorted bars
                                         with the mAP line; the same AP as
                                         MLICMetric / tools/test.py)
  pr_curves.png    + pr_curves.csv      (precision at 101 recall levels per
                                         class; grey: all, colour: best and
                                         worst --highlight classes)
  score_hist.png   + score_hist.csv     (scores of positive vs negative
                                         labels, --bins bins in [0, 1], the
                                         threshold(s) drawn: --thr /
                                         --thr-file)
"""
import argparse
import os.path as osp

import numpy as np

from mlic.evaluation import (average_precision, load_predictions,
                             resolve_thresholds)
from mlic.fileio import check_output_dir
from mlic.visualization import (ap_bar_figure, histogram_figure,
                                interpolated_pr, pr_curve, pr_figure,
                                write_csv)


def plot_results(data, out_dir, highlight=3, bins=50, thresholds=0.5):
    scores = np.asarray(data['scores'], dtype=np.float64)
    targets = np.asarray(data['targets'])
    classes = list(data['classes'])
    ap = average_precision(scores, targets) * 100.0
    has_pos = ~np.isnan(ap)
    m_ap = float(ap[has_pos].mean()) if has_pos.any() else 0.0
    files = []
    positives = (targets == 1).sum(axis=0)
    rows = [(c, '' if np.isnan(a) else f'{a:.4f}', int(p))
            for c, a, p in zip(classes, ap, positives)]
    files.append(write_csv(osp.join(out_dir, 'ap_per_class.csv'),
                           ['class', 'AP', 'positives'],
                           rows + [('mAP', f'{m_ap:.4f}', '')]))
    files.append(ap_bar_figure(classes, ap, m_ap,
                               osp.join(out_dir, 'ap_per_class.png')))
    curves, table = {}, []
    for c, name in enumerate(classes):
        pr = pr_curve(scores[:, c], targets[:, c])
        if pr is None:
            continue
        levels, prec = interpolated_pr(*pr)
        curves[name] = (levels, prec)
        table.extend((name, f'{r:.2f}', f'{p:.6f}')
                     for r, p in zip(levels, prec))
    files.append(write_csv(osp.join(out_dir, 'pr_curves.csv'),
                           ['class', 'recall', 'precision'], table))
    files.append(pr_figure(curves, {c: float(a) for c, a in
                                    zip(classes, ap)},
                           osp.join(out_dir, 'pr_curves.png'), highlight))
    edges = np.linspace(0.0, 1.0, bins + 1)
    pos, _ = np.histogram(scores[targets == 1], bins=edges)
    neg, _ = np.histogram(scores[targets == 0], bins=edges)
    files.append(write_csv(osp.join(out_dir, 'score_hist.csv'),
                           ['bin_low', 'bin_high', 'positives', 'negatives'],
                           [(f'{lo:.4f}', f'{hi:.4f}', int(p), int(n))
                            for lo, hi, p, n in zip(edges[:-1], edges[1:],
                                                    pos, neg)]))
    files.append(histogram_figure(edges, pos, neg,
                                  osp.join(out_dir, 'score_hist.png'),
                                  thresholds=thresholds))
    return dict(files=files, mAP=m_ap, AP=ap)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('preds', help='tools/test.py --out file (.npz)')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--highlight', type=int, default=3,
                        help='best and worst classes drawn in colour')
    parser.add_argument('--bins', type=int, default=50)
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--thr', type=float, default=0.5,
                       help='threshold drawn on the score histogram')
    group.add_argument('--thr-file', help='per-class thresholds (JSON): '
                       'their range and median are drawn')
    args = parser.parse_args(argv)
    check_output_dir(args.out_dir, '--out-dir')
    data = load_predictions(args.preds)
    thresholds = resolve_thresholds(
        args.thr_file if args.thr_file else args.thr, data['classes'],
        len(data['classes']))
    result = plot_results(data, args.out_dir, args.highlight, args.bins,
                          thresholds)
    print(f'mAP {result["mAP"]:.2f}; wrote ' + ', '.join(
        osp.basename(f) for f in result['files']) + f' to {args.out_dir}')
    return result


if __name__ == '__main__':
    main()
