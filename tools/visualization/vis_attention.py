"""Where the model looks for each label: decoder cross-attention overlays.

    python tools/visualization/vis_attention.py CONFIG CHECKPOINT IMAGE ... \
        --out-dir DIR [--topk 5] [--layer -1] [--labels NAME ...]
        [--thr-file F | --thr 0.5] [--gt-split val]

One PNG per image (DIR/<image name>.png; images of the same name from
different folders keep their relative folders under DIR, and the file
extension is kept when two differ only in it): the image in its own aspect
ratio and, for each of the top-k labels by score (or the named ones), the
attention of that label's query over the feature map, stretched back over
the image, with a colour bar (attention x cells: 1 = uniform). Each panel
says whether the label passes its threshold and, with ``--gt-split``
(images of that split of the config's dataset), whether it is in the
ground truth; the title names the decoder layer. The maps are the head's
own (``attention_maps``).
"""
import argparse
import os.path as osp
import sys

import numpy as np

from mlic.apis import MultiLabelInferencer, expand_inputs
from mlic.apis.split_labels import split_labels
from mlic.fileio import check_output_dir
from mlic.visualization import attention_figure


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument('--layer', type=int, default=-1,
                        help='decoder layer (default: the last)')
    parser.add_argument('--labels', nargs='+',
                        help='show these labels instead of the top-k')
    parser.add_argument('--device', default=None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--thr', type=float, help='threshold for "predicted"')
    group.add_argument('--thr-file', help='per-class thresholds (JSON)')
    parser.add_argument('--gt-split', choices=['train', 'val', 'test'],
                        help='mark the ground truth of images that belong to '
                        'this split of the config\'s dataset')
    return parser.parse_args(argv)


def ground_truth(cfg, split):
    """{absolute image path: set of class names} of a dataset split."""
    classes, items = split_labels(cfg, split)
    return {osp.abspath(path): {classes[k] for k in labels}
            for path, labels in items}


def main(argv=None):
    args = parse_args(argv)
    thresholds = args.thr_file if args.thr_file else args.thr
    infer = MultiLabelInferencer(args.config, args.checkpoint,
                                 device=args.device, thresholds=thresholds)
    truth = ground_truth(infer.cfg, args.gt_split) if args.gt_split else {}
    if args.labels:
        unknown = [n for n in args.labels if n not in infer.classes]
        if unknown:
            raise ValueError(f'--labels {unknown}: not classes of the model '
                             f'({infer.classes[:10]} ...)')
    layers = len(getattr(infer.model.head, 'layers', []))
    if layers and not -layers <= args.layer < layers:
        raise ValueError(f'--layer {args.layer}: the decoder has {layers} '
                         f'layers (0..{layers - 1}, or -1 for the last)')
    check_output_dir(args.out_dir, '--out-dir')
    paths = expand_inputs(args.images)
    names = output_names(paths)
    written, skipped = [], []
    for path in paths:
        try:
            out = infer.attention(path, layer=args.layer)
        except OSError as err:  # an unreadable image: named, skipped
            skipped.append(path)
            print(f'skipped {path}: {err}', file=sys.stderr)
            continue
        if args.labels:
            chosen = [infer.classes.index(n) for n in args.labels]
        else:
            k = min(args.topk, len(infer.classes))
            chosen = list(np.argsort(-out['scores'], kind='stable')[:k])
        gt = truth.get(osp.abspath(path)) if isinstance(path, str) else None
        labels = [dict(name=infer.classes[c], score=float(out['scores'][c]),
                       predicted=bool(out['scores'][c] >=
                                      infer.thresholds[c]),
                       truth=None if gt is None else infer.classes[c] in gt)
                  for c in chosen]
        layer = args.layer % layers if layers else args.layer
        title = (f'decoder layer {layer + 1} of {layers}: each label\'s '
                 'cross-attention (mean over heads)')
        written.append(attention_figure(
            out['original'], [out['maps'][c] for c in chosen], labels,
            osp.join(args.out_dir, names[path]), layer_title=title))
        print(f'{path}: ' + ', '.join(
            f'{d["name"]} {d["score"]:.2f}' for d in labels)
            + f' -> {written[-1]}')
    print(f'{len(written)} figures written to {args.out_dir}, '
          f'{len(skipped)} images skipped')
    if not written:
        sys.exit(1)
    return written


def output_names(paths):
    """A distinct ``.png`` name under the output folder for each input:
    ``<stem>.png``; inputs that share a stem keep their folder relative to
    the inputs' common folder, and their extension if that is all that
    differs (``x/photo.jpg`` -> ``x/photo.png``, ``y/photo.jpg`` ->
    ``y/photo.jpg.png``, ``y/photo.png`` -> ``y/photo.png.png``)."""
    originals = list(paths)
    paths = [osp.abspath(p) for p in paths]
    stems = {}
    for p in paths:
        stems.setdefault(osp.splitext(osp.basename(p))[0], []).append(p)
    common = osp.commonpath([osp.dirname(p) for p in paths]) if paths \
        else ''
    names = {}
    for stem, group in stems.items():
        for p in group:
            if len(group) == 1:
                names[p] = stem + '.png'
                continue
            rel = osp.relpath(p, common)
            base = osp.splitext(rel)[0]
            clash = sum(osp.splitext(osp.relpath(q, common))[0] == base
                        for q in group) > 1
            names[p] = (rel if clash else base) + '.png'
    return {orig: names[osp.abspath(orig)] for orig in originals}


if __name__ == '__main__':
    main()
