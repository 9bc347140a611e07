"""Compare two models on the same test images.

    python tools/test.py CONFIG A.pth --out a.npz
    python tools/test.py CONFIG B.pth --out b.npz
    python tools/analysis_tools/compare_predictions.py a.npz b.npz \
        [--names base new] [--out-dir DIR] [--bootstrap 1000] [--seed 0]
        [--thr 0.5]

Prints the seven metrics of each, A - B and its 95% paired bootstrap
interval over images (:mod:`mlic.evaluation.comparison`). With
``--out-dir``: ``comparison.json`` (all of it), ``ap_difference.csv``
(class, AP of A, AP of B, A - B, positives; largest gain first) and
``ap_difference.png`` (the differences as horizontal bars). Two files not
over the same images, classes and labels are refused with the first
difference.
"""
import argparse
import json
import os.path as osp
import sys

from mlic.evaluation import (NotComparableError, compare, format_comparison,
                             load_predictions)
from mlic.fileio import atomic_write, check_output_dir
from mlic.visualization import difference_figure, write_csv


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('a', help='predictions of model A (test.py --out)')
    parser.add_argument('b', help='predictions of model B')
    parser.add_argument('--names', nargs=2, metavar=('A', 'B'),
                        help='names in the table (default: the file names)')
    parser.add_argument('--out-dir')
    parser.add_argument('--bootstrap', type=int, default=1000,
                        help='resamples of the images (0: no interval)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--thr', type=float, default=0.5,
                        help='threshold of CP ... OF1')
    args = parser.parse_args(argv)
    if args.bootstrap < 0:
        parser.error('--bootstrap must be >= 0')
    return args


def _no_nan(value):
    """JSON has no NaN (a class without positives has no AP): None."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def main(argv=None):
    args = parse_args(argv)
    names = args.names or [osp.splitext(osp.basename(p))[0]
                           for p in (args.a, args.b)]
    if names[0] == names[1]:
        names = [f'A ({names[0]})', f'B ({names[1]})']
    if args.out_dir:
        check_output_dir(args.out_dir, '--out-dir')
    a, b = load_predictions(args.a), load_predictions(args.b)
    try:
        result = compare(a, b, names, thr=args.thr,
                         bootstrap=args.bootstrap, seed=args.seed)
    except NotComparableError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)
    print(f'{a["scores"].shape[0]} images, {len(a["classes"])} classes; '
          f'A = {names[0]} ({args.a}), B = {names[1]} ({args.b})')
    print(format_comparison(result, names))
    rows = result['per_class']
    known = [r for r in rows if r['diff'] == r['diff']]
    if known:
        top, low = known[0], known[-1]
        print(f'per class: largest gain {top["cls"]} {top["diff"]:+.2f}, '
              f'largest loss {low["cls"]} {low["diff"]:+.2f} (AP points)')
    if args.out_dir:
        table = [(r['cls'], f'{r["ap_a"]:.4f}', f'{r["ap_b"]:.4f}',
                  f'{r["diff"]:+.4f}', r['positives']) for r in rows]
        files = [write_csv(osp.join(args.out_dir, 'ap_difference.csv'),
                           ['class', f'AP {names[0]}', f'AP {names[1]}',
                            'difference', 'positives'], table)]
        files.append(difference_figure(
            [r['cls'] for r in known], [r['diff'] for r in known],
            osp.join(args.out_dir, 'ap_difference.png'),
            f'AP {names[0]} - AP {names[1]} (points)',
            f'mAP {result["difference"]["mAP"]:+.2f}'))
        path = osp.join(args.out_dir, 'comparison.json')
        with atomic_write(path) as f:
            json.dump(_no_nan(dict(a=args.a, b=args.b, names=names, **{
                k: v for k, v in result.items() if k != 'per_class'},
                per_class=rows)), f, indent=1)
        files.append(path)
        print('wrote ' + ', '.join(files))
    return result


if __name__ == '__main__':
    main()
