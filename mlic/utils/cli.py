"""Command-line options that tools/train.py and tools/test.py share."""
import os

from mmengine.config import DictAction


def add_run_args(parser):
    """``--cfg-options``, ``--partial-load``, ``--launcher``,
    ``--local-rank`` (torchrun's)."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
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
