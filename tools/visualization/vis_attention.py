"""Where the model looks for each label: decoder cross-attention overlays.

    python tools/visualization/vis_attention.py CONFIG CHECKPOINT IMAGE ... \
        --out-dir DIR [--topk 5] [--layer -1] [--labels NAME ...]

One PNG per image (DIR/<image name>.png): the network's input and, for each
of the top-k labels by score (or the named ones), the attention of that
label's query over the feature map (upsampled, overlaid), titled with the
label and its score. The maps are the head's own (attention_maps).
"""
import argparse
import os.path as osp

import numpy as np

from mlic.apis import MultiLabelInferencer, expand_inputs
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
    written = []
    for path in expand_inputs(args.images):
        out = infer.attention(path, layer=args.layer)
        if args.labels:
            chosen = [infer.classes.index(n) for n in args.labels]
        else:
            k = min(args.topk, len(infer.classes))
            chosen = list(np.argsort(-out['scores'], kind='stable')[:k])
        titles = [f'{infer.classes[c]} {out["scores"][c]:.2f}'
                  for c in chosen]
        name = osp.splitext(osp.basename(path))[0] + '.png'
        written.append(attention_figure(
            out['image'], [out['maps'][c] for c in chosen], titles,
            osp.join(args.out_dir, name)))
        print(f'{path}: {", ".join(titles)} -> {written[-1]}')
    return written


if __name__ == '__main__':
    main()
