"""Best validation epoch of each training run, as a Markdown table.

    python tools/benchmarks/summarize_runs.py WORK_DIR [WORK_DIR ...]

Reads mmengine's ``<work_dir>/<timestamp>/vis_data/scalars.json`` and
reports, per run, the epoch with the highest mAP and its metrics.
"""
import argparse
import glob
import json
import os.path as osp

KEYS = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


def best_epoch(work_dir):
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    best = None
    for path in files:
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if 'mAP' in row and (best is None or row['mAP'] > best['mAP']):
                    best = row
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    args = parser.parse_args(argv)
    print('| run | best epoch | ' + ' | '.join(KEYS) + ' |')
    print('|---|---|' + '---|' * len(KEYS))
    for work_dir in args.work_dirs:
        if not osp.isdir(work_dir):
            continue
        row = best_epoch(work_dir)
        name = osp.basename(osp.normpath(work_dir))
        if row is None:
            print(f'| {name} | (no validation yet) |' + ' |' * len(KEYS))
            continue
        values = ' | '.join(f'{row[k]:.2f}' for k in KEYS)
        print(f"| {name} | {row.get('step', '?')} | {values} |")


if __name__ == '__main__':
    main()
