"""Command-line options that tools/train.py and tools/test.py share."""
import os

from mmengine.config import DictAction


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that names an item without ``=`` (mmengine
    stops with 'not enough values to unpack')."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            if '=' not in item:
                parser.error(f'{option_string} {item!r}: each item is '
                             'KEY=VALUE, e.g. train_cfg.max_epochs=3 '
                             "(a list: key='[a,b]')")
        super().__call__(parser, namespace, values, option_string)


def add_run_args(parser):
    """``--cfg-options``, ``--partial-load``, ``--launcher``,
    ``--local-rank`` (torchrun's)."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override config entries, e.g. train_cfg.max_epochs=3')
    parser.add_argument(
        '--partial-load', action='store_true',
        help='load only the checkpoint weights that fit the model (default: '
        'a checkpoint that does not fit is an error)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher (set by the dist/slurm scripts)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def finish_run_args(args):
    """After parsing: the local rank torchrun gave, for mmengine."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
