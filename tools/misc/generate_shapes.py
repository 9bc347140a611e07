"""Generate the built-in shapes dataset into the cache (or --cache-dir).

Training on it generates it on first use anyway; this script does it ahead
of time (e.g. before a multi-process run) and prints the folder.
"""
import argparse

from mlic.datasets.shapes_generator import DEFAULT_SPLITS, ensure_shapes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--cache-dir', help='default: $MLIC_DATA_CACHE or '
                        '~/.cache/mlic')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--num-train', type=int,
                        default=DEFAULT_SPLITS['train'])
    parser.add_argument('--num-val', type=int, default=DEFAULT_SPLITS['val'])
    parser.add_argument('--workers', type=int, default=None)
    parser.add_argument('--variant', default='shapes',
                        choices=['shapes', 'combos'],
                        help='combos: 216 classes (shape x hue x size)')
    args = parser.parse_args(argv)
    counts = dict(train=args.num_train, val=args.num_val)
    root = ensure_shapes(args.cache_dir, args.seed, args.image_size,
                         None if counts == DEFAULT_SPLITS else counts,
                         workers=args.workers, variant=args.variant)
    print(root)
    return root


if __name__ == '__main__':
    main()
