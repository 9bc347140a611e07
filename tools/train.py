"""Train a model from a config: python tools/train.py CONFIG [options]."""
import argparse
import logging
import sys

from mmengine.logging import print_log

from mlic.engine import (build_runner, enable_eval_amp, finish_distributed,
                         prepare_run)
from mlic.engine.interruption import stop_signals, stopped_message
from mlic.utils import check_file_exists, load_config, register_all_modules
from mlic.utils.cli import add_run_args, finish_run_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a mlic model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from CKPT, or (no value) from the latest checkpoint of '
        'the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed precision (fp16 on GPU, bfloat16 autocast on CPU) for '
        'training and validation')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--no-validate', action='store_true',
        help='skip validation during training')
    add_run_args(parser)
    args = parser.parse_args(argv)
    return finish_run_args(args)


def merge_args(cfg, args):
    if args.amp:
        optim = cfg.optim_wrapper
        if optim.get('type', 'OptimWrapper') == 'OptimWrapper':
            optim.type = 'AmpOptimWrapper'
            optim.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    if args.partial_load:
        cfg.partial_load = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        enable_eval_amp(cfg, 'val_cfg')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        check_file_exists(args.resume, 'checkpoint given to --resume')
        cfg.resume, cfg.load_from = True, args.resume
    elif cfg.get('load_from', None):
        check_file_exists(cfg.load_from, 'checkpoint given as load_from')
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    cfg = merge_args(cfg, args)
    register_all_modules()
    notes = prepare_run(cfg, args.launcher)
    try:
        with stop_signals() as stop:  # SIGTERM unwinds as Ctrl-C does
            runner = build_runner(cfg, notes)
            runner.train()
    except BaseException:
        if stop.signal is None:
            raise
        print_log(stopped_message(stop, cfg.work_dir, args.config),
                  logger='current', level=logging.WARNING)
        sys.exit(stop.exit_code)
    finally:
        finish_distributed()
    return runner


if __name__ == '__main__':
    main()
