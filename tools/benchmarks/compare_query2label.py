"""mlic against the official Query2Label code, side by side in one run.

    python tools/benchmarks/compare_query2label.py --q2l-root DIR
        [--config configs/q2l_irpe/coco_r101_448.py] [--device cpu|cuda]
        [--batch 2] [--infer-batch N] [--steps 5] [--warmup 2] [--rounds N]
        [--fp32]
        [--cfg-options k=v ...] [--json FILE]

DIR is a checkout of https://github.com/SlongLiu/query2labels (kept outside
this repository; nothing of it is copied here). Its ResNet-101 Query2Label
(``build_q2l`` with the defaults of its ``main_mlc.py``: hidden 2048, FFN
8192, 1 encoder and 2 decoder layers without self-attention, 4 heads, sine
positions, frozen stem + layer1, frozen BatchNorm) is timed by the same
harness as mlic's config (tools/benchmarks/benchmark.py): the same
random images and labels, the config's data preprocessor, loss (the
paper's APL), optimizer wrapper (AMP: bf16 autocast on a CPU) and EMA.

Rows (ratios to the first):
  official Q2L, its step     - per-tensor AdamW and per-tensor EMA, as its
                               training script runs (torch's default AdamW
                               on that device, a state_dict loop EMA)
  official Q2L, fused AdamW  - the same model with torch's fused AdamW and
                               mlic's multi-tensor EMA
  mlic config                - the config as shipped (fused AdamW,
                               channels-last backbone, multi-tensor EMA)
  mlic, fused AdamW + channels_last off
                             - optim_wrapper.optimizer.fused=False
                               model.channels_last=False
  mlic + Q2L backbone        - the config with Query2Label's ResNet
                               handling (model.backbone.frozen_stages=1
                               model.backbone.norm_eval=True)

No pretrained weights are read (random weights: the same speed). The
official code predates torchvision 0.13; two shims let it import on a
current one (``torchvision.models.utils`` and the ``pretrained=`` argument),
both undone after the model is built.
"""
import argparse
import contextlib
import copy
import os
import os.path as osp
import sys
import types

import torch
import torch.hub
import torchvision
from mmengine.model import BaseModel

from mlic.benchmarking import (add_ratios, format_table, measure_all,
                               train_size, write_results)
from mlic.registry import MODELS
from mlic.utils import load_config, register_all_modules
from mlic.utils.cli import CfgOptionsAction

Q2L_DEFAULTS = dict(  # main_mlc.py's defaults for the paper's R101 model
    hidden_dim=2048, dim_feedforward=8192, enc_layers=1, dec_layers=2,
    nheads=4, dropout=0.1, pre_norm=False, position_embedding='sine',
    backbone='resnet101', keep_other_self_attn_dec=False,
    keep_first_self_attn_dec=False, keep_input_proj=False, pretrained=False)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--q2l-root', required=True,
                        help='a checkout of SlongLiu/query2labels')
    parser.add_argument('--config',
                        default='configs/q2l_irpe/coco_r101_448.py')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--infer-batch', type=int)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=1,
                        help='1: one row after the other (one model in '
                        'memory); more: rounds of --steps, the rows '
                        'interleaved (all in memory)')
    parser.add_argument('--fp32', action='store_true',
                        help="no mixed precision (the config's AMP off)")
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    parser.add_argument('--json')
    return parser.parse_args(argv)


@contextlib.contextmanager
def _official_imports(root):
    """Import the official code as its scripts do (``lib/`` on the path),
    on a current torchvision; everything is put back on exit."""
    lib = osp.join(osp.abspath(root), 'lib')
    if not osp.isfile(osp.join(lib, 'models', 'query2label.py')):
        raise FileNotFoundError(
            f'--q2l-root {root}: no lib/models/query2label.py there. Pass a '
            'checkout of https://github.com/SlongLiu/query2labels')
    shim = types.ModuleType('torchvision.models.utils')
    shim.load_state_dict_from_url = torch.hub.load_state_dict_from_url
    resnet101 = torchvision.models.resnet101
    sys.path.insert(0, lib)
    sys.modules.setdefault('torchvision.models.utils', shim)
    # its Backbone asks for resnet101(pretrained=True): random weights here
    torchvision.models.resnet101 = \
        lambda pretrained=False, **kw: resnet101(weights=None, **kw)
    try:
        yield
    finally:
        torchvision.models.resnet101 = resnet101
        sys.path.remove(lib)
        if sys.modules.get('torchvision.models.utils') is shim:
            del sys.modules['torchvision.models.utils']
        for name, module in list(sys.modules.items()):
            # its top-level 'models', 'utils', ... (they shadow common names)
            if any(osp.abspath(p).startswith(lib + os.sep)
                   for p in _module_paths(module)):
                del sys.modules[name]


def _module_paths(module):
    """The file and package folders of a module (namespace packages have
    only the folders)."""
    paths = [getattr(module, '__file__', None)]
    spec = getattr(module, '__spec__', None)
    paths += list(getattr(spec, 'submodule_search_locations', None) or [])
    return [p for p in paths if isinstance(p, str)]


def build_official(root, num_classes, img_size):
    with _official_imports(root):
        from models.query2label import build_q2l
        torch.manual_seed(0)
        return build_q2l(argparse.Namespace(
            num_class=num_classes, img_size=img_size, **Q2L_DEFAULTS))


def external_classifier(net, cfg):
    """``net`` (images -> logits) as an mmengine model with the config's
    data preprocessor and head loss."""

    class ExternalClassifier(BaseModel):

        def __init__(self):
            super().__init__(data_preprocessor=copy.deepcopy(
                cfg.get('data_preprocessor') or cfg.model.data_preprocessor))
            self.net = net
            self.head = MODELS.build(dict(type='MultiLabelClsHead',
                                          loss=copy.deepcopy(
                                              cfg.model.head.loss)))

        def forward(self, inputs, data_samples=None, mode='tensor'):
            logits = self.net(inputs)
            if mode == 'loss':
                return self.head.loss((logits, ), data_samples)
            if mode == 'predict':
                return self.head.predict((logits, ), data_samples)
            return logits

    return ExternalClassifier()


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    options = dict(args.cfg_options or {})
    if args.fp32:
        options['optim_wrapper.type'] = 'OptimWrapper'

    def config(extra=None):
        cfg = load_config(args.config, options)
        cfg.merge_from_dict(extra or {})
        return cfg

    cfg = config()
    size = train_size(cfg)[0]
    num_classes = int(cfg.model.head.num_classes)
    its_step = {'optim_wrapper.optimizer.fused': False}
    if (cfg.get('default_hooks') or {}).get('ema'):
        its_step['default_hooks.ema.ema_type'] = 'ExponentialMovingAverage'
    fused = {'optim_wrapper.optimizer.fused': True}
    rows = [
        ('official Q2L, its step', config(its_step), True),
        ('official Q2L, fused AdamW', config(fused), True),
        ('mlic ' + osp.basename(args.config), cfg, False),
        ('mlic, fused AdamW + channels_last off', config(
            {'optim_wrapper.optimizer.fused': False,
             'model.channels_last': False}), False),
        ('mlic + Q2L backbone handling', config(
            {'model.backbone.frozen_stages': 1,
             'model.backbone.norm_eval': True}), False),
    ]

    def official_model(row_cfg):
        return lambda: external_classifier(
            build_official(args.q2l_root, num_classes, size), row_cfg)

    # models are built when timed (one at a time with --rounds 1)
    variants = [(row_cfg, official_model(row_cfg) if official else None)
                for _, row_cfg, official in rows]
    results = measure_all(variants, device=args.device, batch=args.batch,
                          infer_batch=args.infer_batch, steps=args.steps,
                          warmup=args.warmup, rounds=args.rounds)
    for (name, _, _), result in zip(rows, results):
        result['variant'] = name
    print(format_table(add_ratios(results),
                       f'official Query2Label vs {args.config}', args.steps,
                       args.warmup, args.rounds))
    if args.json:
        write_results(args.json, results, config=args.config,
                      q2l_root=args.q2l_root)
    return results


if __name__ == '__main__':
    main()
