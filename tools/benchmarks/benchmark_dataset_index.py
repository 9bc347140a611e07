"""Time and memory of indexing a large CSV dataset (CsvMultiLabel).

    python tools/benchmarks/benchmark_dataset_index.py [--rows 1000000]
        [--classes 10000] [--labels 5] [--csv FILE] [--check-files]
        [--unlisted unknown [--negatives 5]]
    python tools/benchmarks/benchmark_dataset_index.py --openimages \
        --rows 9000000 --classes 9605 --labels 5

``--openimages`` writes OpenImages' own files instead (the human-verified
labels CSV, ``--rows`` label rows, ``--labels`` rows an image, Confidence
1 or 0 at random, and the class descriptions) and indexes them with
OpenImagesMultiLabel.

Writes a CSV of ``--rows`` images with ``--labels`` random class names each
(unless ``--csv`` names one), then indexes it in a fresh process and
prints the wall time, the resident memory the index added, and the bytes
of the index itself. The images do not exist: ``check_files`` is off
unless ``--check-files``. ``--unlisted unknown`` reads it as partly
labelled data (a class a row does not list is unknown) and ``--negatives``
adds that many known negatives a row in a ``negatives`` column.
"""
import argparse
import csv
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile

import numpy as np

WORKER = r'''
import json, resource, sys, time
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()
def peak():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) * 1024 for l in f
                    if l.startswith('VmHWM'))
from mlic.datasets import CsvMultiLabel
from mlic.utils import register_all_modules
register_all_modules()
path, check, unlisted = sys.argv[1], sys.argv[2] == '1', sys.argv[3]
before = rss()
start = time.perf_counter()
if unlisted == 'openimages':
    from mlic.datasets.openimages import OpenImagesMultiLabel
    ds = OpenImagesMultiLabel(ann_file=path, class_descriptions=path[:-4]
                              + '_desc.csv', data_prefix='images',
                              check_files=check)
else:
    ds = CsvMultiLabel(ann_file=path, data_prefix='images',
                       check_files=check, unlisted=unlisted)
seconds = time.perf_counter() - start
after = rss()
item = ds.get_data_info(len(ds) // 2)
print(json.dumps(dict(seconds=seconds, rss_growth=after - before,
                      peak_growth=peak() - before,
                      index_bytes=ds.index.nbytes, rows=len(ds),
                      classes=len(ds.metainfo['classes']),
                      sample=item['gt_label'][:5])))
'''


def write_csv(path, rows, classes, labels, seed=0, negatives=0):
    rng = np.random.default_rng(seed)
    names = [f'tag{k:05d}' for k in range(classes)]
    if not negatives:  # (the file of the earlier figures, byte for byte)
        picks = rng.integers(0, classes, (rows, labels))
        with open(path, 'w', newline='', encoding='utf-8') as f:
            writer = csv.writer(f)
            writer.writerow(['image', 'labels'])
            for i in range(rows):
                writer.writerow([f'{i // 1000:04d}/{i:08d}.jpg',
                                 ' '.join(names[k] for k in picks[i])])
        return
    # distinct classes a row: positives first, then the known negatives
    picks = np.stack([rng.choice(classes, labels + negatives, replace=False)
                      for _ in range(min(rows, 1000))])
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['image', 'labels'] + (['negatives'] if negatives
                                               else []))
        for i in range(rows):
            pick = (picks[i % len(picks)] + i) % classes
            row = [f'{i // 1000:04d}/{i:08d}.jpg',
                   ' '.join(names[k] for k in pick[:labels])]
            if negatives:
                row.append(' '.join(names[k] for k in pick[labels:]))
            writer.writerow(row)


def write_openimages(path, rows, classes, per_image, seed=0):
    """OpenImages' human-verified labels CSV (``rows`` rows, ``per_image``
    distinct classes an image) and its class descriptions beside it."""
    rng = np.random.default_rng(seed)
    mids = [f'/m/{k:07x}' for k in range(classes)]
    with open(path[:-4] + '_desc.csv', 'w', encoding='utf-8') as f:
        f.writelines(f'{m},class {k}\n' for k, m in enumerate(mids))
    picks = np.stack([rng.choice(classes, per_image, replace=False)
                      for _ in range(1000)])
    conf = rng.integers(0, 2, (1000, per_image))
    with open(path, 'w', encoding='utf-8') as f:
        f.write('ImageID,Source,LabelName,Confidence\n')
        for i in range(-(-rows // per_image)):
            image = f'{i * 2654435761 % 2**64:016x}'
            pick = (picks[i % 1000] + i) % classes
            f.writelines(f'{image},verification,{mids[k]},{c}\n'
                         for k, c in zip(pick, conf[i % 1000]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=1_000_000)
    parser.add_argument('--classes', type=int, default=10_000)
    parser.add_argument('--labels', type=int, default=5)
    parser.add_argument('--csv', help='index this file instead')
    parser.add_argument('--check-files', action='store_true')
    parser.add_argument('--unlisted', default='negative',
                        choices=['negative', 'unknown'])
    parser.add_argument('--negatives', type=int, default=0,
                        help='known negatives a row (--unlisted unknown)')
    parser.add_argument('--openimages', action='store_true',
                        help="OpenImages' own files (OpenImagesMultiLabel)")
    args = parser.parse_args(argv)
    if args.openimages:
        args.unlisted = 'openimages'
    if args.negatives and args.unlisted != 'unknown':
        parser.error('--negatives needs --unlisted unknown')
    tmp = None
    path = args.csv
    if path is None:
        tmp = tempfile.mkdtemp(prefix='mlic_index_')
        path = osp.join(tmp, 'big.csv')
        if args.openimages:
            write_openimages(path, args.rows, args.classes, args.labels)
        else:
            write_csv(path, args.rows, args.classes, args.labels,
                      negatives=args.negatives)
    try:
        out = subprocess.run(
            [sys.executable, '-c', WORKER, path,
             '1' if args.check_files else '0', args.unlisted],
            capture_output=True, text=True, check=True,
            env=dict(os.environ, OMP_NUM_THREADS='1'))
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f'{result["rows"]} rows x {result["classes"]} classes '
          f'({osp.getsize(path) / 2**20:.0f} MiB CSV)' if tmp is None else
          (f'{result["rows"]} images, {args.rows} label rows x '
           f'{result["classes"]} classes (OpenImages files)'
           if args.openimages else
           f'{result["rows"]} rows x {result["classes"]} classes'
           f' (unlisted: {args.unlisted}, {args.negatives} known negatives '
           'a row)'))
    print(f'  indexed in {result["seconds"]:.2f} s; resident memory +'
          f'{result["rss_growth"] / 2**20:.0f} MiB (the index itself '
          f'{result["index_bytes"] / 2**20:.0f} MiB), peak +'
          f'{result["peak_growth"] / 2**20:.0f} MiB while indexing')
    return result


if __name__ == '__main__':
    main()
