"""Where the model looks for each label: decoder cross-attention overlays.

    python tools/visualization/vis_attention.py CONFIG CHECKPOINT IMAGE ... \
        --out-dir DIR [--topk 5] [--layer -1] [--labels NAME ...]

One PNG per image (DIR/<image name>.png; images of the same name from
different folders keep their relative folders under DIR, and the file
extension is kept when two differ only in it): the network's input and, for each
of the top-k labels by score (or the named ones), the attention of that
label's query over the feature map (upsampled, overlaid), titled with the
label and its score. The maps are the head's own (attention_maps).
"""
import argparse
import os.path as osp
import sys

import numpy as np

from mlic.apis import MultiLabelInferencer, expand_inputs
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
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    infer = MultiLabelInferencer(args.config, args.checkpoint,
                                 device=args.device)
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
        titles = [f'{infer.classes[c]} {out["scores"][c]:.2f}'
                  for c in chosen]
        written.append(attention_figure(
            out['image'], [out['maps'][c] for c in chosen], titles,
            osp.join(args.out_dir, names[path])))
        print(f'{path}: {", ".join(titles)} -> {written[-1]}')
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
