"""Time and memory of indexing a large CSV dataset (CsvMultiLabel).

    python tools/benchmarks/benchmark_dataset_index.py [--rows 1000000]
        [--classes 10000] [--labels 5] [--csv FILE] [--check-files]
        [--unlisted unknown [--negatives 5]]

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
from mlic.datasets import CsvMultiLabel
from mlic.utils import register_all_modules
register_all_modules()
path, check, unlisted = sys.argv[1], sys.argv[2] == '1', sys.argv[3]
before = rss()
start = time.perf_counter()
ds = CsvMultiLabel(ann_file=path, data_prefix='images', check_files=check,
                   unlisted=unlisted)
seconds = time.perf_counter() - start
after = rss()
item = ds.get_data_info(len(ds) // 2)
print(json.dumps(dict(seconds=seconds, rss_growth=after - before,
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
    args = parser.parse_args(argv)
    if args.negatives and args.unlisted != 'unknown':
        parser.error('--negatives needs --unlisted unknown')
    tmp = None
    path = args.csv
    if path is None:
        tmp = tempfile.mkdtemp(prefix='mlic_index_')
        path = osp.join(tmp, 'big.csv')
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
          f'{result["rows"]} rows x {result["classes"]} classes'
          f' (unlisted: {args.unlisted}, {args.negatives} known negatives '
          'a row)')
    print(f'  indexed in {result["seconds"]:.2f} s; resident memory +'
          f'{result["rss_growth"] / 2**20:.0f} MiB (the index itself '
          f'{result["index_bytes"] / 2**20:.0f} MiB)')
    return result


if __name__ == '__main__':
    main()
