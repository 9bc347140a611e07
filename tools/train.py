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
    parser.add_argument(
        '--stop-after-epoch', type=int, metavar='K',
        help='stop once epoch K ends (its checkpoint written), keeping the '
        "schedule of the config's max_epochs; --resume continues exactly")
    add_run_args(parser)
    args = parser.parse_args(argv)
    if args.stop_after_epoch is not None and args.stop_after_epoch < 1:
        parser.error('--stop-after-epoch must be >= 1')
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
    if args.stop_after_epoch is not None:
        check_stop_epoch(cfg, args.stop_after_epoch)
        cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
            dict(type='StopAfterEpochHook', epoch=args.stop_after_epoch)]
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        check_file_exists(args.resume, 'checkpoint given to --resume')
        cfg.resume, cfg.load_from = True, args.resume
    elif cfg.get('load_from', None):
        check_file_exists(cfg.load_from, 'checkpoint given as load_from')
    return cfg


def check_stop_epoch(cfg, epoch):
    """--stop-after-epoch K needs an epoch-based run longer than K whose
    checkpoints include epoch K (else the resume would go back further)."""
    train_cfg = cfg.get('train_cfg', None) or {}
    max_epochs = train_cfg.get('max_epochs', None)
    if train_cfg.get('by_epoch', True) is False or max_epochs is None:
        sys.exit('error: --stop-after-epoch is for epoch-based training '
                 '(train_cfg.max_epochs)')
    if epoch >= max_epochs:
        sys.exit(f'error: --stop-after-epoch {epoch}: the run has '
                 f'{max_epochs} epochs; it stops there anyway')
    hook = (cfg.get('default_hooks', None) or {}).get('checkpoint') or {}
    interval = hook.get('interval', 1)
    if hook.get('by_epoch', True) and interval > 0 and epoch % interval:
        sys.exit(f'error: --stop-after-epoch {epoch}: checkpoints are '
                 f'written every {interval} epochs, so epoch {epoch} would '
                 f'have none; stop at a multiple of {interval}, or add '
                 f'--cfg-options default_hooks.checkpoint.interval=1')


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
