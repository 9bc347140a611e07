"""Write a config's dataset split (COCO, VOC, any mlic dataset) as the CSV
that ``CsvMultiLabel`` reads: one row an image, its class names.

    python tools/dataset_converters/to_csv.py CONFIG --split train \
        --out-dir data/coco_csv [--split val ...]

For each ``--split`` writes ``OUT_DIR/<split>.csv`` (``image``: the path
relative to the split's image folder, ``labels``, ``ignored``: VOC's
difficult labels) and once ``OUT_DIR/classes.txt`` (the dataset's class
order, which the model's outputs follow), then prints the dataset entry to
put in a config. Labels are separated by ``|`` when a class name holds a
space (COCO's "traffic light"), else by a space. Why: the CSV index is
compact (flat arrays, shared by loader workers) and loads without parsing
geometry - a COCO ``instances_*.json`` of millions of images is mostly
boxes and polygons a classifier never reads (docs/large_scale.md).
"""
import argparse
import csv
import os.path as osp

from mlic.datasets.split_labels import SPLITS, build_labels_only
from mlic.fileio import atomic_write, check_output_dir
from mlic.structures.ignored_labels import IGNORE_KEYS
from mlic.utils import load_config


def image_root(dataset) -> str:
    prefix = dataset.data_prefix
    root = prefix.get('img_path', '') if isinstance(prefix, dict) else prefix
    return root or dataset.data_root or '.'


def label_separator(classes) -> str:
    if not any(' ' in c for c in classes):
        return ' '
    if any('|' in c for c in classes):
        raise ValueError('class names hold both spaces and "|": no label '
                         'separator fits; rename the classes')
    return '|'


def write_split(dataset, path: str, sep: str) -> int:
    classes = [str(c) for c in dataset.metainfo['classes']]
    root = image_root(dataset)
    with atomic_write(path, newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['image', 'labels', 'ignored'])
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            ignored = sorted({k for key in IGNORE_KEYS
                              for k in info.get(key, [])})
            writer.writerow([
                osp.relpath(info['img_path'], root),
                sep.join(classes[k] for k in info['gt_label']),
                sep.join(classes[k] for k in ignored)])
    return len(dataset)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--split', nargs='+', default=['train', 'val'],
                        choices=sorted(SPLITS))
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)
    check_output_dir(args.out_dir, '--out-dir')
    cfg = load_config(args.config)
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
        rows = write_split(dataset, path, sep)
        written[split] = dict(csv=path, rows=rows, images=image_root(dataset))
        print(f'{split}: {rows} images -> {path} (images under '
              f'{image_root(dataset)})')
    with atomic_write(osp.join(args.out_dir, 'classes.txt'),
                      encoding='utf-8') as f:
        f.write(''.join(c + '\n' for c in classes))
    first = written[args.split[0]]
    print('\nIn a config (one entry per split):\n'
          f"dict(type='CsvMultiLabel', ann_file="
          f"'{osp.abspath(first['csv'])}',\n"
          f"     data_prefix='{osp.abspath(first['images'])}',\n"
          f"     classes='{osp.abspath(osp.join(args.out_dir, 'classes.txt'))}'"
          f", label_sep={sep!r})")
    return dict(classes=classes, label_sep=sep, splits=written)


if __name__ == '__main__':
    main()
