"""Predict labels for new images: python tools/infer.py CONFIG CKPT INPUT...

    python tools/infer.py CONFIG CKPT img.jpg photos/ [--out preds.jsonl|.csv]
        [--thr 0.5 | --thr-file thresholds.json] [--topk K]
        [--batch-size N] [--workers N] [--resume] [--device cpu|cuda]
    bash tools/dist_infer.sh CONFIG CKPT NPROC INPUT... --out DIR
    python tools/infer.py CONFIG CKPT --list images.parquet --out tags.parquet
        --engine ray [--address HOST:PORT] [--model-workers K]
        [--gpus-per-worker 1] [--decode-cpus N] [--resume]

``--engine ray`` decodes in Ray tasks and scores in Ray actors, on a
cluster or a local Ray (:mod:`mlic.apis.ray_tagging`; docs/large_scale.md).

INPUT: image files and/or folders (searched recursively); ``--list FILE``
adds the images a .txt/.csv/.parquet list names. ``.jsonl`` output:
one JSON object per image (img_path, scores for every class, pred_labels,
pred_scores); ``.csv``: img_path, one score column per class, pred_labels
(space-separated); ``.parquet``: img_path, scores (a float32 array),
pred_labels, pred_scores. Results are written as they come, to ``OUT.partial``,
renamed to ``OUT`` when every image is done (:mod:`mlic.apis.tagging`,
which does the work: this file is its command line);
``--resume`` continues an unfinished run. ``--workers N`` decodes images in
N processes. Without ``--out`` a short table is printed.

Under torchrun (tools/dist_infer.sh) the inputs are sharded over the
processes, each writes ``DIR/part-<rank>-of-<n>.jsonl`` and rank 0 merges
them into ``DIR/predictions.jsonl`` (or ``.csv`` with ``--format csv``).

Exit status: 0 when images were predicted (unreadable ones are named on
stderr, skipped and counted at the end); 1 when none was; 2 for a bad
command line or a named input that does not exist (nothing is run).
"""
import argparse
import datetime
import os
import sys

import torch
import torch.distributed as dist

from mlic.apis import (MultiLabelInferencer, expand_inputs, missing_inputs,
                       read_image_list)
from mlic.apis.tagging import (ResultFileError, check_parts_world,
                               merge_after_all, output_files, tag)
from mlic.fileio import check_output_dir, check_output_path
from mlic.utils import check_file_exists


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Multi-label predictions')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', nargs='*', help='images and/or folders')
    parser.add_argument('--list', dest='image_list',
                        help='a list of images: .txt (a path a line), .csv '
                        'or .parquet (column img_path); relative paths from '
                        "the list's folder; scored after INPUTs")
    parser.add_argument('--out', help='.jsonl, .csv or .parquet file (a '
                        'folder under torchrun)')
    parser.add_argument('--format', choices=['jsonl', 'csv'],
                        default='jsonl',
                        help='under torchrun: the merged file\'s format')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--thr', type=float,
                       help='one threshold for every class')
    group.add_argument('--thr-file', help='per-class thresholds (JSON)')
    parser.add_argument('--topk', type=int,
                        help='report the K best classes instead')
    parser.add_argument('--only-predicted', action='store_true',
                        help='.jsonl: write the predicted labels and their '
                        'scores only, not every class\'s score (short lines '
                        'for thousands of classes)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=0,
                        help='processes that decode images (default 0: '
                        'this one)')
    parser.add_argument('--resume', action='store_true',
                        help='continue OUT.partial (or extend OUT): images '
                        'already in it are skipped')
    parser.add_argument('--device', help='cpu, cuda, cuda:1 (default: cuda '
                        'when available)')
    parser.add_argument('--max-pixels', type=int,
                        help='skip images that declare more pixels than this '
                        '(default: $MLIC_MAX_IMAGE_PIXELS or 2**28; '
                        'a decompression bomb is skipped, not decoded)')
    parser.add_argument('--amp', action='store_true', default=None,
                        help='mixed precision: fp16 autocast on GPU, bfloat16 '
                        "on CPU (default: the config's test_cfg.fp16)")
    parser.add_argument('--no-fold-bn', dest='fold_bn', action='store_false',
                        default=None,
                        help='score the model as it is, not a copy with '
                        'BatchNorm folded into the convolutions (default: '
                        "the config's test_cfg, which folds)")
    ray = parser.add_argument_group(
        'a Ray cluster (--engine ray; pip install -e ".[ray]"; '
        'docs/large_scale.md)')
    ray.add_argument('--engine', choices=['local', 'ray'], default='local',
                     help='local: this process (and --workers); ray: decode '
                     'in Ray tasks and score in Ray actors, on the cluster '
                     'at --address or a local one')
    ray.add_argument('--address', help="the Ray cluster (host:port, or "
                     "'auto' for the one this machine joined); default: "
                     'start a local one')
    ray.add_argument('--model-workers', type=int, default=1,
                     help='model actors (one per GPU with --gpus-per-worker '
                     '1)')
    ray.add_argument('--gpus-per-worker', type=float, default=0,
                     help='GPUs per model actor (0: score on CPU)')
    ray.add_argument('--cpus-per-worker', type=float, default=1,
                     help='CPUs each model actor reserves (its torch '
                     'threads)')
    ray.add_argument('--decode-cpus', type=int,
                     help='at most this many decoding tasks at once '
                     "(default: as many as the cluster's free CPUs)")
    parser.add_argument('--launcher', choices=['none', 'pytorch'],
                        default='none', help='set by tools/dist_infer.sh')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if not args.inputs and not args.image_list:
        parser.error('give images, folders or --list FILE')
    args.world = int(os.environ.get('WORLD_SIZE', '1'))
    args.rank = int(os.environ.get('RANK', '0'))
    if args.world > 1:
        if not args.out:
            parser.error('under torchrun, --out DIR is needed (one part per '
                         'process, merged there)')
    elif args.out and not args.out.endswith(('.jsonl', '.csv', '.parquet')):
        parser.error(f'--out {args.out}: use a .jsonl, .csv or .parquet '
                     'file')
    if args.max_pixels is not None and args.max_pixels < 1:
        parser.error('--max-pixels must be >= 1')
    if args.workers < 0 or args.batch_size < 1:
        parser.error('--workers must be >= 0 and --batch-size >= 1')
    if args.engine == 'ray':
        if args.world > 1:
            parser.error('--engine ray runs from one process (the driver); '
                         'use tools/infer.py, not dist_infer.sh')
        if args.workers:
            parser.error('--workers is for --engine local; with Ray, '
                         '--decode-cpus bounds the decoding tasks')
        if args.model_workers < 1 or args.gpus_per_worker < 0 or \
                args.cpus_per_worker < 0 or (args.decode_cpus or 1) < 1:
            parser.error('--model-workers and --decode-cpus must be >= 1, '
                         '--gpus-per-worker and --cpus-per-worker >= 0')
    elif args.address:
        parser.error('--address is for --engine ray')
    if args.resume and not args.out:
        parser.error('--resume needs --out')
    if args.only_predicted and (args.format == 'csv' or (
            args.out or '').endswith('.csv')):
        parser.error('--only-predicted is for .jsonl output (a CSV has a '
                     'column for every class)')
    return args


def print_table(results, limit=50):
    width = max([len(r.get('img_path', '')) for r in results[:limit]] + [5])
    print(f'{"image":<{width}}  labels')
    for r in results[:limit]:
        labels = ', '.join(f'{n} {s:.2f}' for n, s in
                           zip(r['pred_labels'], r['pred_scores'])) or '-'
        print(f'{r.get("img_path", ""):<{width}}  {labels}')
    if len(results) > limit:
        print(f'... {len(results) - limit} more (use --out FILE)')


def main(argv=None):
    args = parse_args(argv)
    missing = missing_inputs(args.inputs + (
        [args.image_list] if args.image_list else []))
    if missing:
        print(f'error: {len(missing)} input(s) not found: {missing[:5]}'
              f'{" ..." if len(missing) > 5 else ""}; nothing was run',
              file=sys.stderr)
        sys.exit(2)
    check_file_exists(args.checkpoint, 'checkpoint')
    check_file_exists(args.thr_file, 'threshold file given to --thr-file')
    mine, merged = output_files(args.out, args.rank, args.world,
                                '.' + args.format)
    if args.world > 1:
        check_output_dir(args.out, '--out')
        try:
            check_parts_world(args.out, args.world, args.resume)
        except ResultFileError as err:
            if args.rank == 0:
                print(f'error: {err}', file=sys.stderr)
            sys.exit(2)
    elif mine:
        check_output_path(mine, '--out')
    device = args.device
    if args.world > 1:
        # CPU collectives only (a barrier at the end); a shard may take
        # days on a big archive, hence the long timeout
        dist.init_process_group('gloo', timeout=datetime.timedelta(days=7))
    if device is None and args.world > 1:
        if torch.cuda.is_available():
            device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    if args.max_pixels is not None:  # read by every decoding process
        os.environ['MLIC_MAX_IMAGE_PIXELS'] = str(args.max_pixels)
    thresholds = args.thr_file if args.thr_file else args.thr
    infer = MultiLabelInferencer(args.config, args.checkpoint,
                                 # with Ray the model runs in the actors
                                 device='cpu' if args.engine == 'ray'
                                 else device, thresholds=thresholds,
                                 amp=args.amp, fold_bn=args.fold_bn)
    items = expand_inputs(args.inputs) if args.inputs else []
    if args.image_list:  # folders walked once, the list read once
        items += read_image_list(args.image_list)
    if args.engine == 'ray':
        return _tag_on_ray(args, infer, items, mine)
    results, skipped, writer = tag(
        infer, items, mine, checkpoint=args.checkpoint,
        batch_size=args.batch_size, workers=args.workers, topk=args.topk,
        only_predicted=args.only_predicted, resume=args.resume,
        rank=args.rank, world=args.world)
    total = len(items)
    if args.world > 1:
        merged_count = merge_after_all(args.out, items, merged, infer.classes,
                                       args.rank, args.world)
        if args.rank != 0:
            return results
        print(f'Predictions for {merged_count} of {total} images merged into '
              f'{merged}')
        return _exit(results, skipped, merged_count)
    if writer is not None:
        print(f'Predictions for {writer.count} images written to '
              f'{writer.path}')
    else:
        print_table(results)
    done = writer.count if writer is not None else len(results)
    print(f'{done} images predicted, {len(skipped)} skipped'
          + (' (unreadable: see above)' if skipped else ''))
    return _exit(results, skipped, done)


def _tag_on_ray(args, infer, items, out):
    from mlic.apis.ray_tagging import summary_line, tag_on_ray
    env = {}
    if args.max_pixels is not None:
        env['MLIC_MAX_IMAGE_PIXELS'] = str(args.max_pixels)
    results, skipped, writer, summary = tag_on_ray(
        infer, items, out, checkpoint=args.checkpoint, address=args.address,
        model_workers=args.model_workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker, decode_cpus=args.decode_cpus,
        device=args.device, batch_size=args.batch_size, topk=args.topk,
        only_predicted=args.only_predicted, resume=args.resume, env=env)
    if writer is not None:
        print(f'Predictions for {writer.count} images written to '
              f'{writer.path}' + (f' (skipped: {writer.path}.skipped.tsv)'
                                  if skipped else ''))
    else:
        print_table(results)
    print(summary_line(summary))
    return _exit(results, skipped,
                 writer.count if writer is not None else len(results))


def _exit(results, skipped, done):
    if done == 0:
        print('error: no image was predicted', file=sys.stderr)
        sys.exit(1)
    return results


if __name__ == '__main__':
    main()
