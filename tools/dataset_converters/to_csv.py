"""Write a config's dataset split (COCO, VOC, any mlic dataset) as the CSV
that ``CsvMultiLabel`` reads: one row an image, its class names.

    python tools/dataset_converters/to_csv.py CONFIG --split train \
        --out-dir data/coco_csv [--split val ...]

For each ``--split`` writes ``OUT_DIR/<split>.csv`` (``image``: the path
relative to the split's image folder, ``labels``, ``ignored``: VOC's
difficult labels; for partly labelled data - OpenImages, a HideLabels
wrapper, a CSV read with ``unlisted='unknown'`` - also ``negatives``, the
known negatives, and the file is then read with ``unlisted='unknown'``)
and once ``OUT_DIR/classes.txt`` (the dataset's class
order, which the model's outputs follow), then prints the dataset entry to
put in a config. Labels are separated by ``|`` when a class name holds
white space (COCO's "traffic light"; a tab or a non-breaking space too),
else by a space; every file is read back as a config will read it and
compared row by row before success is reported. Why: the CSV index is
compact (flat arrays, shared by loader workers) and loads without parsing
geometry - a COCO ``instances_*.json`` of millions of images is mostly
boxes and polygons a classifier never reads (docs/large_scale.md).
"""
import argparse
import csv
import os.path as osp

import numpy as np

from mlic.datasets import CsvMultiLabel
from mlic.datasets.label_index import LabelIndexBuilder
from mlic.apis.split_labels import SPLITS, build_labels_only
from mlic.fileio import atomic_write, check_output_dir
from mlic.structures.label_states import (IGNORED, NEGATIVE, has_unknowns,
                                          label_states)
from mlic.utils import load_config, register_all_modules


def image_root(dataset) -> str:
    prefix = dataset.data_prefix
    root = prefix.get('img_path', '') if isinstance(prefix, dict) else prefix
    return root or dataset.data_root or '.'


def label_separator(classes) -> str:
    """The separator CsvMultiLabel reads these names with: a space when
    every name is one word to ``str.split()`` (which splits on any white
    space: tabs, non-breaking spaces), else ``|``."""
    if all(c.split() == [c] for c in classes):
        return ' '
    bad = [c for c in classes if '|' in c or c != c.strip() or not c]
    if bad:
        raise ValueError(f'class name {bad[0]!r} cannot be written: names '
                         'with white space are separated by "|", so a name '
                         'must hold no "|" nor begin or end with white '
                         'space; rename the class')
    return '|'


def _states(info, num_classes):
    positive = np.zeros(num_classes, dtype=bool)
    positive[np.asarray(info['gt_label'], dtype=np.int64)] = True
    return label_states(info, positive)


def is_partial(dataset) -> bool:
    """Whether some label of the split is unknown (then the CSV lists the
    known negatives and is read with ``unlisted='unknown'``)."""
    return any(has_unknowns(dataset.get_data_info(i))
               for i in range(len(dataset)))


def write_split(dataset, path: str, sep: str, partial: bool = False):
    """Write the CSV; returns the rows written as a LabelIndex (positive,
    ignored and - ``partial`` - negative labels of each image, to check the
    file reads back)."""
    classes = [str(c) for c in dataset.metainfo['classes']]
    root = image_root(dataset)
    expected = LabelIndexBuilder()
    with atomic_write(path, newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['image', 'labels', 'negatives', 'ignored']
                        if partial else ['image', 'labels', 'ignored'])
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            states = _states(info, len(classes))
            labels = np.flatnonzero(states == 1).tolist()
            ignored = np.flatnonzero(states == IGNORED).tolist()
            negatives = np.flatnonzero(states == NEGATIVE).tolist() \
                if partial else []
            image = osp.relpath(info['img_path'], root)
            row = [image, sep.join(classes[k] for k in labels)]
            if partial:
                row.append(sep.join(classes[k] for k in negatives))
            writer.writerow(row + [sep.join(classes[k] for k in ignored)])
            expected.add(image, labels, ignored, negatives=negatives)
    return expected.build()


def check_reads_back(path: str, classes_file: str, sep: str, expected,
                     partial: bool = False):
    """Read the written CSV as a config will and compare every row's
    labels; raises naming the first row that differs."""
    index = CsvMultiLabel(ann_file=path, classes=classes_file, label_sep=sep,
                          check_files=False, lazy_init=False,
                          unlisted='unknown' if partial else 'negative'
                          ).index
    keys = ('path_offsets', 'paths', 'label_offsets', 'labels',
            'ignored_offsets', 'ignored', 'negative_offsets', 'negatives')
    same = len(index) == len(expected) and all(
        np.array_equal(getattr(index, k), getattr(expected, k))
        for k in keys)
    if not same:
        row = next((i for i in range(min(len(index), len(expected)))
                    if index.path(i) != expected.path(i)
                    or not np.array_equal(index.labels_of(i),
                                          expected.labels_of(i))
                    or not np.array_equal(index.ignored_of(i),
                                          expected.ignored_of(i))
                    or not np.array_equal(index.negatives_of(i),
                                          expected.negatives_of(i))),
                   min(len(index), len(expected)))
        raise ValueError(f'{path} does not read back as written (row {row + 2}'
                         '); the split is not converted - please report it')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--split', nargs='+', default=['train', 'val'],
                        choices=sorted(SPLITS))
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)
    check_output_dir(args.out_dir, '--out-dir')
    cfg = load_config(args.config)
    register_all_modules()
    classes, written = None, {}
    for split in args.split:
        dataset = build_labels_only(cfg, split)
        names = [str(c) for c in dataset.metainfo['classes']]
        if classes is None:
            classes = names
            sep = label_separator(classes)
        elif names != classes:
            raise ValueError(f'split {split} has other classes (or another '
                             'order) than the first split: one classes.txt '
                             'cannot serve both')
        path = osp.join(args.out_dir, f'{split}.csv')
        partial = is_partial(dataset)
        written[split] = dict(csv=path,
                              rows=write_split(dataset, path, sep, partial),
                              images=image_root(dataset), partial=partial)
    classes_file = osp.join(args.out_dir, 'classes.txt')
    with atomic_write(classes_file, encoding='utf-8') as f:
        f.write(''.join(c + '\n' for c in classes))
    for split, entry in written.items():
        check_reads_back(entry['csv'], classes_file, sep, entry['rows'],
                         entry['partial'])
        entry['rows'] = len(entry['rows'])
        print(f'{split}: {entry["rows"]} images -> {entry["csv"]} (images '
              f'under {entry["images"]}; read back and checked'
              + ('; partly labelled: read it with unlisted=\'unknown\''
                 if entry['partial'] else '') + ')')
    first = written[args.split[0]]
    print('\nIn a config (one entry per split):\n'
          f"dict(type='CsvMultiLabel', ann_file="
          f"'{osp.abspath(first['csv'])}',\n"
          f"     data_prefix='{osp.abspath(first['images'])}',\n"
          f"     classes='{osp.abspath(osp.join(args.out_dir, 'classes.txt'))}'"
          f", label_sep={sep!r}"
          + (", unlisted='unknown'" if first['partial'] else '') + ')')
    return dict(classes=classes, label_sep=sep, splits=written)


if __name__ == '__main__':
    main()
