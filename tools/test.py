"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [options].

Prints mAP, CP, CR, CF1, OP, OR, OF1 (percent); ``--per-class`` adds the
per-class AP table in the papers' layout (also written to the work dir as
per_class_ap_<checkpoint name>.csv / .json), ``--out`` saves per-image scores with image
ids/labels. ``--format-only --out-dir DIR`` writes the PASCAL VOC
evaluation-server files instead of computing metrics (VOC 2012 test).
"""
import argparse
import os.path as osp

from mmengine.config import ConfigDict
from mmengine.dist import get_rank

from mlic.engine import (build_runner, enable_eval_amp, finish_distributed,
                         prepare_run, read_checkpoint)
from mlic.evaluation import (METRIC_NAMES, paper_table, read_threshold_file,
                             save_per_class, split_per_class)
from mlic.fileio import check_output_dir, check_output_path
from mlic.utils import check_file_exists, load_config, register_all_modules
from mlic.utils.cli import add_run_args, finish_run_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a mlic checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--work-dir', help='where the test log and the '
                        '--per-class files go (default: the checkpoint\'s '
                        'folder)')
    parser.add_argument(
        '--out', help='save per-image scores, labels and image ids (.npz; '
        'read by calibrate_thresholds.py, plot_results.py, label_stats.py)')
    parser.add_argument(
        '--per-class', action='store_true', help='print per-class AP')
    parser.add_argument(
        '--format-only', action='store_true',
        help='write VOC evaluation-server result files (no metrics; for a '
        'test set without labels such as VOC 2012 test)')
    parser.add_argument(
        '--out-dir', help='with --format-only: where results/ and the '
        'archive go')
    parser.add_argument(
        '--voc-comp', type=int, choices=[1, 2], default=2,
        help='with --format-only: VOC competition, 1 = VOC data only, 2 = '
        'other data too (ImageNet-pretrained backbones; default)')
    parser.add_argument(
        '--thr-file', help='per-class thresholds (JSON from '
        'tools/analysis_tools/calibrate_thresholds.py) for CP/CR/CF1/OP/OR/OF1')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed precision: fp16 autocast on GPU, bfloat16 on CPU (faster; '
        'the metrics move in the second decimal, docs/model_zoo.md "Speed")')
    parser.add_argument(
        '--interpolated', action='store_true',
        help='interpolated VOC AP instead of the standard AP')
    parser.add_argument(
        '--remap-classes', action='store_true',
        help='give the test dataset the class order stored in the checkpoint '
        '(a CSV dataset whose own order differs); said in the log')
    add_run_args(parser)
    args = parser.parse_args(argv)
    if args.format_only and not args.out_dir:
        parser.error('--format-only needs --out-dir DIR')
    if args.out_dir and not args.format_only:
        parser.error('--out-dir is for --format-only')
    if args.out and not args.out.endswith('.npz'):
        parser.error(f'--out {args.out}: predictions are saved as .npz '
                     '(arrays + JSON; a pickle could carry code)')
    return finish_run_args(args)


def _metric_cfgs(evaluator):
    if isinstance(evaluator, (dict, ConfigDict)):
        evaluator = evaluator.get('metrics', evaluator)
    if isinstance(evaluator, (dict, ConfigDict)):
        return [evaluator]
    return list(evaluator)


def remap_classes(cfg, checkpoint):
    """Set the test dataset's classes to the checkpoint's (by name)."""
    meta = read_checkpoint(checkpoint).get('meta', {}) or {}
    classes = (meta.get('dataset_meta') or {}).get('classes')
    if classes is None:
        raise ValueError(f'--remap-classes: {checkpoint} stores no class '
                         'names (meta.dataset_meta.classes)')
    dataset = cfg.test_dataloader.dataset
    if dataset.get('type') not in ('CsvMultiLabel', 'mlic.CsvMultiLabel'):
        raise ValueError(
            f'--remap-classes: the test dataset ({dataset.get("type")}) '
            'has a class order of its own; give it the checkpoint\'s '
            'classes in its config instead')
    dataset['classes'] = [str(c) for c in classes]
    print(f'--remap-classes: the test dataset takes the checkpoint\'s class '
          f'order ({len(classes)} classes: {list(classes)[:8]}'
          f'{" ..." if len(classes) > 8 else ""})', flush=True)
    return cfg


def merge_args(cfg, args):
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.amp:
        enable_eval_amp(cfg, 'test_cfg')
    if args.partial_load:
        cfg.partial_load = True
    if args.format_only:
        test_set = cfg.test_dataloader.dataset
        # the VOC year comes from the test dataset (its metainfo)
        cfg.test_evaluator = dict(
            type='VOCSubmissionWriter', out_dir=osp.abspath(args.out_dir),
            comp=args.voc_comp, split=test_set.get('split', 'test'))
        return cfg
    for metric in _metric_cfgs(cfg.test_evaluator):
        if metric.get('type') == 'MLICMetric':
            if args.per_class:
                metric['classwise'] = True
            if args.interpolated:
                metric['interpolated'] = True
            if args.thr_file:
                metric['thr'] = args.thr_file
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
    check_file_exists(args.thr_file, 'threshold file given to --thr-file')
    if args.thr_file:
        read_threshold_file(args.thr_file)  # a bad file fails before work
    # outputs are checked before any image is scored
    if args.out:
        check_output_path(args.out, '--out')
    if args.out_dir:
        check_output_dir(args.out_dir, '--out-dir')
    # one rule: the log and per-class files go beside the checkpoint
    work_dir = args.work_dir
    if work_dir is None and '://' not in args.checkpoint:
        work_dir = osp.dirname(osp.abspath(args.checkpoint))
    if work_dir is not None:
        check_output_dir(work_dir, '--work-dir (default: the checkpoint\'s '
                         'folder)')
    cfg = load_config(args.config, args.cfg_options, work_dir)
    cfg = merge_args(cfg, args)
    if args.remap_classes:
        remap_classes(cfg, args.checkpoint)
    register_all_modules()
    notes = prepare_run(cfg, args.launcher, mode='test')
    try:
        runner = build_runner(cfg, notes)
        metrics = runner.test()
        rank = get_rank()
    finally:
        finish_distributed()
    if rank != 0:
        return metrics
    if args.format_only:
        print(f'VOC result files written under {osp.abspath(args.out_dir)} '
              '(see docs/datasets.md for the upload)', flush=True)
        return metrics
    per_class, headline, known = split_per_class(metrics, known=True)
    print(format_metrics(headline), flush=True)
    if per_class:
        print('\nPer-class AP (%) (known: the labels of each class that '
              'were known, when some were unknown or ignored):\n' +
              paper_table(per_class, headline['mAP'], known), flush=True)
        # named after the checkpoint: testing two checkpoints of one work
        # dir keeps both tables
        stem = 'per_class_ap_' + osp.splitext(
            osp.basename(args.checkpoint))[0]
        paths = save_per_class(runner.work_dir, per_class, headline['mAP'],
                               stem=stem, known=known)
        print('Saved ' + ' and '.join(paths), flush=True)
    return metrics


if __name__ == '__main__':
    main()
