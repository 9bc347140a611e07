"""Print the learning rate a config's scheduler gives over training.

    python tools/analysis_tools/print_lr_schedule.py CONFIG \
        [--gpus 8] [--batch 16] [--images 82783] [--auto-scale-lr]
        [--iters-per-epoch N] [--points 21] [--cfg-options k=v ...]

Steps the config's optimizer and ``param_scheduler`` exactly as the Runner
does (no model, no data: one dummy parameter) and prints the learning rate
at evenly spaced points, plus the start, the peak and its position, and the
end. An epoch is ceil(--images / (--gpus x --batch)) iterations (the
batch defaults to the config's per-GPU batch, the images to COCO
train2014's 82,783); ``--auto-scale-lr`` scales the lr as
``tools/train.py --auto-scale-lr`` does, by gpus x batch /
``auto_scale_lr.base_batch_size``. ``--iters-per-epoch`` overrides the
computed length.
"""
import argparse
import math

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mlic.registry import PARAM_SCHEDULERS
from mlic.utils import register_all_modules
from mlic.utils.cli import CfgOptionsAction


def lr_curve(cfg, iters_per_epoch: int):
    """Learning rate of every training iteration (list of floats)."""

    register_all_modules(init_default_scope=False)
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_type = getattr(torch.optim, opt_cfg.pop('type'))
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = opt_type([param], **opt_cfg)
    schedulers = []
    with DefaultScope.overwrite_default_scope('mlic'):
        for sched in cfg.param_scheduler:
            sched = dict(sched)
            by_epoch = sched.get('by_epoch', True)
            # the Runner's rule: no `end` -> the end of training
            sched.setdefault('end', cfg.train_cfg.max_epochs if by_epoch
                             else cfg.train_cfg.max_iters)
            if sched.pop('convert_to_iter_based', False) and by_epoch:
                cls = PARAM_SCHEDULERS.get(sched.pop('type'))
                schedulers.append(cls.build_iter_from_epoch(
                    optimizer, epoch_length=iters_per_epoch, **sched))
            else:
                if by_epoch:
                    raise ValueError('epoch-based schedulers without '
                                     'convert_to_iter_based are not stepped '
                                     'per iteration; not supported here')
                schedulers.append(PARAM_SCHEDULERS.build(
                    dict(sched, optimizer=optimizer)))
    total = cfg.train_cfg.max_epochs * iters_per_epoch
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for s in schedulers:
            s.step()
    return lrs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes (GPUs) of the run')
    parser.add_argument('--batch', type=int,
                        help="per-GPU batch (default: the config's)")
    parser.add_argument('--images', type=int, default=82783,
                        help='training images (default: COCO train2014)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr as tools/train.py --auto-scale-lr')
    parser.add_argument('--iters-per-epoch', type=int)
    parser.add_argument('--points', type=int, default=21)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. '
                        'optim_wrapper.optimizer.lr=1e-4 train_cfg.max_epochs=20')
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.gpus < 1 or (args.batch is not None and args.batch < 1):
        parser.error('--gpus and --batch must be >= 1')
    batch = args.batch or cfg.train_dataloader.batch_size
    total_batch = args.gpus * batch
    iters = args.iters_per_epoch or math.ceil(args.images / total_batch)
    note = ''
    if args.auto_scale_lr:
        base = cfg.get('auto_scale_lr', {}).get('base_batch_size')
        if not base:
            parser.error('--auto-scale-lr: the config has no '
                         'auto_scale_lr.base_batch_size')
        ratio = total_batch / base
        cfg.optim_wrapper.optimizer.lr = cfg.optim_wrapper.optimizer.lr * \
            ratio
        note = (f'; lr scaled x{ratio:g} (batch {total_batch} / base '
                f'{base}) to {cfg.optim_wrapper.optimizer.lr:.3e}')
    lrs = lr_curve(cfg, iters)
    total = len(lrs)
    peak = max(range(total), key=lrs.__getitem__)
    print(f'{args.config}: {args.gpus} GPU(s) x batch {batch} = '
          f'{total_batch} images a step; {total} iterations ({iters} per '
          f'epoch{"" if args.iters_per_epoch else f" of {args.images} images"}'
          f'){note}')
    for k in range(args.points):
        i = min(total - 1, round(k * (total - 1) / (args.points - 1)))
        print(f'  iter {i:7d} ({100 * i / total:5.1f}%)  lr {lrs[i]:.3e}')
    print(f'start {lrs[0]:.3e}, peak {lrs[peak]:.3e} at iteration {peak} '
          f'({100 * peak / total:.1f}%), end {lrs[-1]:.3e}')
    return lrs


if __name__ == '__main__':
    main()
