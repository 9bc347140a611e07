"""Speed and memory of a config's training step and inference.

    python tools/benchmarks/benchmark.py CONFIG [--device cpu|cuda]
        [--batch N] [--amp fp16|bf16] [--steps N] [--warmup N] [--rounds N]
        [--with-data]
        [--infer-batch N] [--cfg-options k=v ...]
        [--compare 'k=v k=v' ...] [--json FILE]

The training step is the config's: the data preprocessor, the model's
forward and loss, backward, the config's optimizer wrapper (AMP, clipping)
and, when the config has one, the EMA update of its EMA hook. Each phase
(data, forward, backward, optimizer, EMA) is timed on its own (with a
device sync), the median over ``--rounds`` x ``--steps`` steps after
``--warmup`` (one variant after the other, or with ``--rounds`` > 1 the
variants interleaved round by round, all in memory at once); img/s is
batch / median step time. Inference: the model's test step on
``--infer-batch`` images. Peak memory: the memory a step allocates above
what was in use before it (mlic.benchmarking says how, per device).

Inputs are random images at the config's training size (or, with
``--with-data``, batches of the config's real train dataloader, whose
loading time is then the "data" phase). Pretrained weights are not loaded
(the speed is the same). ``--compare`` measures each variant (a string of
``k=v`` overrides on top of ``--cfg-options``; '' is the config itself) in
the same run and prints each as a ratio to the first. Timings are
benchmarks: report them with the machine, batch and dtype.
"""
import argparse

from mmengine.config import DictAction

from mlic.benchmarking import (add_ratios, format_table, measure_all,
                               write_results)
from mlic.utils import load_config, register_all_modules
from mlic.utils.cli import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=2,
                        help='training images per step (default 2)')
    parser.add_argument('--infer-batch', type=int,
                        help='inference images per step (default --batch)')
    parser.add_argument('--amp', choices=['fp16', 'bf16'],
                        help='mixed precision (fp16 needs a GPU)')
    parser.add_argument('--steps', type=int, default=8,
                        help='timed steps per variant and round')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=1,
                        help='1: one variant after the other (one model in '
                        'memory); more: rounds of --steps, the variants '
                        'interleaved (a slow spell of the machine hits all '
                        'alike; all in memory)')
    parser.add_argument('--with-data', action='store_true',
                        help="use the config's train dataloader")
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    parser.add_argument('--compare', nargs='+', default=None,
                        help="variants, each a string 'k=v k=v' ('' = as is)")
    parser.add_argument('--json', help='write the results there')
    return parser.parse_args(argv)


def options_of(text):
    """A variant string 'k=v k=v' as a dict of config overrides."""
    if not text.strip():
        return {}
    ns = argparse.Namespace()
    DictAction(option_strings=[], dest='o')(None, ns, text.split())
    return ns.o


def timing_options(args):
    """The keyword arguments of mlic.benchmarking.measure_all."""
    return dict(device=args.device, batch=args.batch,
                infer_batch=args.infer_batch, amp=args.amp, steps=args.steps,
                warmup=args.warmup, rounds=args.rounds,
                with_data=args.with_data)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    variants = args.compare if args.compare is not None else ['']
    cfgs = []
    for text in variants:
        cfg = load_config(args.config, args.cfg_options)
        cfg.merge_from_dict(options_of(text))
        cfgs.append((cfg, None))
    results = measure_all(cfgs, **timing_options(args))
    for text, result in zip(variants, results):
        result['variant'] = text or '(config)'
    print(format_table(add_ratios(results), args.config, args.steps,
                       args.warmup, args.rounds))
    if args.json:
        write_results(args.json, results, config=args.config)
    return results


if __name__ == '__main__':
    main()
