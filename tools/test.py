"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [options].

Prints mAP, CP, CR, CF1, OP, OR, OF1 (percent); ``--per-class`` adds the
per-class AP table, ``--out`` saves per-image scores with image ids/labels.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mlic.utils import silence_known_warnings  # noqa: E402

silence_known_warnings()

from mmengine.config import ConfigDict, DictAction  # noqa: E402
from mmengine.dist import get_rank  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mlic.evaluation import METRIC_NAMES  # noqa: E402
from mlic.utils import check_file_exists, load_config, prepare_run  # noqa: E402,E501


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a mlic checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--work-dir', help='where the test log goes')
    parser.add_argument(
        '--out', help='save per-image scores, labels and image ids (.pkl)')
    parser.add_argument(
        '--per-class', action='store_true', help='print per-class AP')
    parser.add_argument(
        '--interpolated', action='store_true',
        help='interpolated VOC AP instead of the standard AP')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _metric_cfgs(evaluator):
    if isinstance(evaluator, (dict, ConfigDict)):
        evaluator = evaluator.get('metrics', evaluator)
    if isinstance(evaluator, (dict, ConfigDict)):
        return [evaluator]
    return list(evaluator)


def merge_args(cfg, args):
    cfg.load_from = args.checkpoint
    cfg.resume = False
    for metric in _metric_cfgs(cfg.test_evaluator):
        if metric.get('type') == 'MLICMetric':
            if args.per_class:
                metric['classwise'] = True
            if args.interpolated:
                metric['interpolated'] = True
            if args.out:
                metric['out_file'] = args.out
    return cfg


def format_metrics(metrics):
    """The headline metrics as a two-line table (then any others)."""
    names = [n for n in METRIC_NAMES if n in metrics]
    head = ' '.join(f'{n:>7}' for n in names)
    vals = ' '.join(f'{metrics[n]:7.2f}' for n in names)
    rest = [f'{k}: {v:.2f}' for k, v in metrics.items()
            if k not in names and isinstance(v, float)]
    return '\n'.join([head, vals] + rest)


def main(argv=None):
    args = parse_args(argv)
    check_file_exists(args.checkpoint, 'checkpoint')
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    cfg = merge_args(cfg, args)
    prepare_run(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if get_rank() == 0:
        print(format_metrics(metrics), flush=True)
    return metrics


if __name__ == '__main__':
    main()
