"""Predict labels for new images: python tools/infer.py CONFIG CKPT INPUT...

    python tools/infer.py CONFIG CKPT img.jpg photos/ [--out preds.jsonl|.csv]
        [--thr 0.5 | --thr-file thresholds.json] [--topk K]
        [--batch-size N] [--device cpu|cuda]

INPUT: image files and/or folders (searched recursively). ``.jsonl`` output:
one JSON object per image (img_path, scores for every class, pred_labels,
pred_scores); ``.csv``: img_path, one score column per class, pred_labels
(space-separated). Without ``--out`` a short table is printed. Images that
cannot be read are reported by name and skipped; their count is printed at
the end.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Multi-label predictions')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', nargs='+', help='images and/or folders')
    parser.add_argument('--out', help='.jsonl or .csv file')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--thr', type=float,
                       help='one threshold for every class')
    group.add_argument('--thr-file', help='per-class thresholds (JSON)')
    parser.add_argument('--topk', type=int,
                        help='report the K best classes instead')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--device', help='cpu, cuda, cuda:1 (default: cuda '
                        'when available)')
    parser.add_argument('--amp', action='store_true', default=None,
                        help='mixed precision: fp16 autocast on GPU, bfloat16 '
                        "on CPU (default: the config's test_cfg.fp16)")
    parser.add_argument('--no-fold-bn', dest='fold_bn', action='store_false',
                        default=None,
                        help='score the model as it is, not a copy with '
                        'BatchNorm folded into the convolutions (default: '
                        "the config's test_cfg, which folds)")
    args = parser.parse_args(argv)
    if args.out and not args.out.endswith(('.jsonl', '.csv')):
        parser.error(f'--out {args.out}: use a .jsonl or a .csv file')
    return args


def write_jsonl(path, results):
    with open(path, 'w', encoding='utf-8') as f:
        for r in results:
            f.write(json.dumps(r) + '\n')


def write_csv(path, results, classes):
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['img_path'] + list(classes) + ['pred_labels'])
        for r in results:
            writer.writerow([r.get('img_path', '')] +
                            [f'{r["scores"][c]:.6f}' for c in classes] +
                            [' '.join(r['pred_labels'])])


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
    from mmengine.utils import ProgressBar

    from mlic.apis import MultiLabelInferencer, expand_inputs
    from mlic.utils import check_file_exists
    check_file_exists(args.checkpoint, 'checkpoint')
    check_file_exists(args.thr_file, 'threshold file given to --thr-file')
    thresholds = args.thr_file if args.thr_file else args.thr
    infer = MultiLabelInferencer(args.config, args.checkpoint,
                                 device=args.device, thresholds=thresholds,
                                 amp=args.amp, fold_bn=args.fold_bn)
    items = expand_inputs(args.inputs)  # folders walked once
    total = len(items)
    bar = ProgressBar(total, file=sys.stderr)
    results, skipped = [], []
    for batch in infer.iter_batches(items, args.batch_size,
                                    topk=args.topk, on_error='skip'):
        results.extend(batch)
        new = infer.skipped[len(skipped):]
        for name, why in new:
            print(f'\nskipped {name}: {why}', file=sys.stderr)
        skipped = list(infer.skipped)
        for _ in range(len(batch) + len(new)):
            bar.update()
    print(file=sys.stderr)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        if args.out.endswith('.jsonl'):
            write_jsonl(args.out, results)
        else:
            write_csv(args.out, results, infer.classes)
        print(f'Predictions for {len(results)} images written to {args.out}')
    else:
        print_table(results)
    print(f'{len(results)} images predicted, {len(skipped)} skipped'
          + (' (unreadable: see above)' if skipped else ''))
    return results


if __name__ == '__main__':
    main()
