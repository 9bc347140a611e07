"""Training curves of one or more work dirs as a PNG (no TensorBoard).

    python tools/analysis_tools/plot_curves.py work_dirs/a [work_dirs/b ...]
        [--names base new] --out curves.png [--title T]

Per run and epoch: the mean training loss, the learning rate and the
validation mAP (with EMA: the raw weights' solid, the EMA's dashed), read
from each work dir's ``<timestamp>/vis_data/scalars.json`` (every launch
of a resumed run). Also writes ``<out>.csv`` (run, epoch, loss, lr, and
every validation metric) and prints each run's best epoch.
"""
import argparse
import os.path as osp
import sys

from mlic.fileio import check_output_path
from mlic.visualization import training_curves_figure, write_csv
from mlic.visualization.run_logs import NoRunLogError, read_run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--names', nargs='+',
                        help='one per work dir (default: their names)')
    parser.add_argument('--out', required=True, help='a .png file')
    parser.add_argument('--title', default='')
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.work_dirs):
        parser.error(f'{len(args.names)} --names for {len(args.work_dirs)} '
                     'work dirs')
    if not args.out.endswith('.png'):
        parser.error('--out: a .png file')
    check_output_path(args.out, '--out')
    names = args.names or [osp.basename(osp.normpath(w))
                           for w in args.work_dirs]
    runs = {}
    try:
        for name, work_dir in zip(names, args.work_dirs):
            runs[name] = read_run(work_dir)
    except NoRunLogError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)
    metrics = sorted({k for r in runs.values() for k in r['val']})
    rows = []
    for name, run in runs.items():
        for k, epoch in enumerate(run['epochs']):
            rows.append([name, epoch,
                         '' if run['loss'][k] is None
                         else f'{run["loss"][k]:.6f}',
                         '' if run['lr'][k] is None else f'{run["lr"][k]:.6g}']
                        + [f'{run["val"][m][epoch]:.4f}'
                           if epoch in run['val'].get(m, {}) else ''
                           for m in metrics])
        val = run['val'].get('mAP', {})
        if val:
            best = max(val, key=val.get)
            print(f'{name}: {len(run["epochs"])} epochs, best val mAP '
                  f'{val[best]:.2f} at epoch {best}, last {val[max(val)]:.2f}')
    csv_path = osp.splitext(args.out)[0] + '.csv'
    write_csv(csv_path, ['run', 'epoch', 'loss', 'lr'] + metrics, rows)
    training_curves_figure(runs, args.out, args.title)
    print(f'wrote {args.out} and {csv_path}')
    return runs


if __name__ == '__main__':
    main()
