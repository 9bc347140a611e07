"""Label statistics of a dataset: frequencies, labels per image, and the
label co-occurrence matrix, for any dataset mlic reads (COCO, VOC, CSV,
built-in).

    python tools/analysis_tools/label_stats.py CONFIG [--split train|val|test]
        --out-dir DIR [--preds preds.npz [--thr 0.5]] [--cfg-options ...]

Writes label_freq.png/.csv (images per class), labels_per_image.png/.csv
(how many images have 0, 1, 2 ... labels), cooccurrence.png (P(j | i): of
the images with class i, the fraction that also have class j; with
--preds the predicted co-occurrence, at --thr, beside the true one),
cooccurrence.csv (counts) and cooccurrence_conditional.csv (P(j | i)).
"""
import argparse
import os.path as osp

import numpy as np

from mlic.apis.split_labels import SPLITS, label_matrix, split_labels
from mlic.evaluation import load_predictions
from mlic.utils import load_config, register_all_modules
from mlic.utils.cli import CfgOptionsAction
from mlic.visualization import (bar_figure, cooccurrence, heatmap_figure,
                                write_csv)


def dataset_labels(cfg, split):
    """(classes, (N, C) {0,1} positives) of a config's dataset."""
    classes, items = split_labels(cfg, split)
    return classes, label_matrix(items, len(classes))


def label_stats(classes, labels, out_dir, pred_labels=None):
    files = []
    freq = labels.sum(axis=0)
    n = labels.shape[0]
    files.append(write_csv(osp.join(out_dir, 'label_freq.csv'),
                           ['class', 'images', 'fraction'],
                           [(c, int(f), f'{f / max(n, 1):.6f}')
                            for c, f in zip(classes, freq)]))
    files.append(bar_figure(classes, freq, osp.join(out_dir,
                                                    'label_freq.png'),
                            'images', f'Images per class ({n} images)'))
    per_image = labels.sum(axis=1)
    counts = np.bincount(per_image, minlength=1)
    files.append(write_csv(osp.join(out_dir, 'labels_per_image.csv'),
                           ['labels', 'images'],
                           [(k, int(v)) for k, v in enumerate(counts)]))
    files.append(bar_figure([str(k) for k in range(len(counts))], counts,
                            osp.join(out_dir, 'labels_per_image.png'),
                            'images', 'Labels per image', rotate=False))
    co, cond = cooccurrence(labels)
    files.append(write_csv(osp.join(out_dir, 'cooccurrence.csv'),
                           [''] + classes,
                           [[c] + [int(v) for v in row]
                            for c, row in zip(classes, co)]))
    files.append(write_csv(osp.join(out_dir,
                                    'cooccurrence_conditional.csv'),
                           [''] + classes,
                           [[c] + [f'{v:.6f}' for v in row]
                            for c, row in zip(classes, cond)]))
    mats = {'true': cond}
    if pred_labels is not None:
        pco, pcond = cooccurrence(pred_labels)
        mats['predicted'] = pcond
        files.append(write_csv(
            osp.join(out_dir, 'cooccurrence_predicted_conditional.csv'),
            [''] + classes, [[c] + [f'{v:.6f}' for v in row]
                             for c, row in zip(classes, pcond)]))
    files.append(heatmap_figure(mats, classes,
                                osp.join(out_dir, 'cooccurrence.png')))
    return dict(files=files, freq=freq, per_image=counts, cooccurrence=co,
                conditional=cond)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--split', default='train', choices=sorted(SPLITS))
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--preds', help='tools/test.py --out file: the '
                        'predicted co-occurrence beside the true one')
    parser.add_argument('--thr', type=float, default=0.5)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    register_all_modules()
    classes, labels = dataset_labels(cfg, args.split)
    pred = None
    if args.preds:
        data = load_predictions(args.preds)
        if list(data['classes']) != classes:
            raise ValueError(f'{args.preds} has other classes than the '
                             f'{args.split} dataset')
        pred = (np.asarray(data['scores']) >= args.thr).astype(np.int64)
    result = label_stats(classes, labels, args.out_dir, pred)
    print(f'{labels.shape[0]} images, {len(classes)} classes, '
          f'{labels.sum() / max(labels.shape[0], 1):.2f} labels per image; '
          f'wrote {len(result["files"])} files to {args.out_dir}')
    return result


if __name__ == '__main__':
    main()
