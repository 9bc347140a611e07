"""Label statistics of a dataset: frequencies, labels per image, and the
label co-occurrence matrix, for any dataset mlic reads (COCO, VOC, CSV,
built-in).

    python tools/analysis_tools/label_stats.py CONFIG [--split train|val|test]
        --out-dir DIR [--preds preds.npz [--thr 0.5]] [--cfg-options ...]

Writes label_freq.png/.csv (images per class), labels_per_image.png/.csv
(how many images have 0, 1, 2 ... labels), cooccurrence.png (P(j | i): of
the images with class i, the fraction that also have class j; with
--preds the predicted co-occurrence, at --thr, beside the true one),
cooccurrence.csv (counts), cooccurrence_conditional.csv (P(j | i)) and
label_states.csv (per class: positives, negatives, unknown and ignored
labels; the frequencies count positives). It warns about classes
without a positive or without a known negative (a loss learns nothing,
or only "always positive", from them).
"""
import argparse
import os.path as osp

import numpy as np

from mlic.apis.split_labels import (SPLITS, build_labels_only,
                                    dataset_labels, label_matrix)
from mlic.evaluation import load_predictions
from mlic.structures.label_states import (IGNORED, NEGATIVE, POSITIVE,
                                          UNKNOWN, label_states)
from mlic.utils import load_config, register_all_modules
from mlic.utils.cli import CfgOptionsAction
from mlic.visualization import (bar_figure, cooccurrence, heatmap_figure,
                                write_csv)


def positives_matrix(dataset):
    """(classes, (N, C) {0,1} positives) of a dataset."""
    classes, items = dataset_labels(dataset)
    return classes, label_matrix(items, len(classes))


STATES = (('positives', POSITIVE), ('negatives', NEGATIVE),
          ('unknown', UNKNOWN), ('ignored', IGNORED))


def state_counts(dataset, num_classes: int) -> np.ndarray:
    """(4, C) images per class in each state, in the order of
    ``STATES``."""
    counts = np.zeros((len(STATES), num_classes), dtype=np.int64)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        positive = np.zeros(num_classes, dtype=bool)
        positive[np.asarray(info.get('gt_label', []), dtype=np.int64)] = True
        states = label_states(info, positive)
        for row, (_, value) in enumerate(STATES):
            counts[row] += states == value
    return counts


def state_warnings(classes, counts):
    """Lines about classes with no positive or no known negative."""
    out = []
    for row, what in ((0, 'no positive'), (1, 'no known negative')):
        empty = [c for c, n in zip(classes, counts[row]) if n == 0]
        if empty:
            out.append(f'warning: {len(empty)} class(es) with {what}: '
                       f'{empty[:10]}{" ..." if len(empty) > 10 else ""}')
    return out


def write_states(classes, counts, out_dir):
    return write_csv(osp.join(out_dir, 'label_states.csv'),
                     ['class'] + [name for name, _ in STATES],
                     [[c] + [int(v) for v in counts[:, k]]
                      for k, c in enumerate(classes)])


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
    dataset = build_labels_only(cfg, args.split)
    classes, labels = positives_matrix(dataset)
    pred = None
    if args.preds:
        data = load_predictions(args.preds)
        if list(data['classes']) != classes:
            raise ValueError(f'{args.preds} has other classes than the '
                             f'{args.split} dataset')
        pred = (np.asarray(data['scores']) >= args.thr).astype(np.int64)
    result = label_stats(classes, labels, args.out_dir, pred)
    counts = state_counts(dataset, len(classes))
    result['files'].append(write_states(classes, counts, args.out_dir))
    result['states'] = {name: counts[k] for k, (name, _) in enumerate(STATES)}
    result['warnings'] = state_warnings(classes, counts)
    total = counts.sum(axis=1)
    print(f'{labels.shape[0]} images, {len(classes)} classes, '
          f'{labels.sum() / max(labels.shape[0], 1):.2f} labels per image; '
          f'wrote {len(result["files"])} files to {args.out_dir}')
    print('labels: ' + ', '.join(f'{int(n)} {name}' for (name, _), n in
                                 zip(STATES, total)))
    for line in result['warnings']:
        print(line)
    return result


if __name__ == '__main__':
    main()
