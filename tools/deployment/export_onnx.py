"""Export a trained model to ONNX: RGB images (0-255) in, probabilities out.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--opset 17] [--dynamic-batch] [--shape H W] [--verify [IMAGE ...]]
        [--thr-file thresholds.json | --thr 0.5]

The model's metadata carries the class names, the thresholds (given, or the
config's), the input size and the test pipeline's resize rule, so that
tools/deployment/onnx_infer.py deploys it with onnxruntime, numpy and
Pillow only.

The graph: input ``images`` float32 N x 3 x H x W, RGB, 0-255; output
``scores`` N x C sigmoid probabilities; normalisation inside. ``--shape``
defaults to the size of the config's test pipeline. ``--verify`` runs
onnxruntime on random inputs (batch 1, and 3 with --dynamic-batch) and on
the real images given after it (through the config's test pipeline, as
tools/test.py and tools/infer.py see them), and prints the largest
difference to PyTorch's scores.
"""
import argparse

import numpy as np
import torch

from mlic.apis import MultiLabelInferencer
from mlic.deployment import (deployment_metadata, export_onnx, onnx_scores,
                             scores_model, write_metadata)
from mlic.fileio import check_output_path
from mlic.utils import load_config, pipeline_resize
from mlic.utils.cli import CfgOptionsAction


def test_size(cfg):
    """(H, W) the config's test pipeline resizes to."""
    size = pipeline_resize(cfg.test_dataloader.dataset.pipeline)
    if size is None:
        raise ValueError('no Resize in the test pipeline: give --shape H W')
    return size


# The opsets this graph exports at and runs in onnxruntime (the
# TorchScript exporter of torch 2.x; LayerNorm and SDPA decompose below 17).
MIN_OPSET, MAX_OPSET = 14, 20


def set_test_size(cfg, shape):
    """The test pipeline's Resize set to ``shape`` (H, W), so that image
    checks feed the graph's own size."""
    for step in cfg.test_dataloader.dataset.pipeline:
        if step.get('type') in ('Resize', 'mmpretrain.Resize'):
            step['scale'] = (int(shape[1]), int(shape[0]))
            return cfg
    raise ValueError('no Resize in the test pipeline: --verify IMAGE needs '
                     'one to bring images to --shape')


def check_shape(model, shape):
    """A forward at ``shape`` (H, W) in PyTorch first: a size the model
    cannot take is named here, not in a graph dump of the exporter."""
    if any(int(v) < 1 for v in shape):
        raise ValueError(f'--shape {shape[0]} {shape[1]}: both sides must be '
                         '>= 1 pixel (the network input, H W)')
    with torch.no_grad():
        try:
            model(torch.zeros(1, 3, int(shape[0]), int(shape[1])))
        except Exception as err:  # the model's own message follows
            raise ValueError(
                f'--shape {shape[0]} {shape[1]}: the model cannot take this '
                f'input size ({type(err).__name__}: '
                f'{str(err).splitlines()[0][:200]}); use a size its '
                'backbone and encoder accept, e.g. the test pipeline\'s '
                '(omit --shape)') from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--opset', type=int, default=17,
                        help=f'ONNX opset, {MIN_OPSET}-{MAX_OPSET}')
    parser.add_argument('--dynamic-batch', action='store_true')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--verify', nargs='*', metavar='IMAGE',
                        help='compare onnxruntime with PyTorch (random '
                        'inputs and these images)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries (k=v)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--thr', type=float, help='one threshold, stored in '
                       'the model for onnx_infer.py')
    group.add_argument('--thr-file', help='per-class thresholds (JSON from '
                       'calibrate_thresholds.py), stored in the model')
    args = parser.parse_args(argv)
    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        parser.error(f'--opset {args.opset}: this model exports at opsets '
                     f'{MIN_OPSET}-{MAX_OPSET}')
    if args.shape and min(args.shape) < 1:
        parser.error(f'--shape {args.shape[0]} {args.shape[1]}: both sides '
                     'must be >= 1 pixel')
    if not args.out.endswith('.onnx'):
        parser.error(f'--out {args.out}: name the model *.onnx')
    return args


def main(argv=None):
    args = parse_args(argv)
    check_output_path(args.out, '--out')
    cfg = load_config(args.config, args.cfg_options)
    shape = tuple(args.shape) if args.shape else test_size(cfg)
    if args.shape and args.verify:
        set_test_size(cfg, shape)
    thresholds = args.thr_file if args.thr_file else args.thr
    infer = MultiLabelInferencer(cfg, args.checkpoint, device='cpu',
                                 thresholds=thresholds)
    model = scores_model(infer.model)
    check_shape(model, shape)
    meta = deployment_metadata(
        infer.classes, infer.thresholds, shape,
        cfg.test_dataloader.dataset.pipeline, model.mean.view(-1).tolist(),
        model.std.view(-1).tolist())
    export_onnx(model, args.out, shape, args.opset, args.dynamic_batch)
    write_metadata(args.out, meta)
    print(f'exported {args.out}: images N x 3 x {shape[0]} x {shape[1]} '
          f'(RGB, 0-255) -> scores N x {infer.num_classes}'
          + (' (dynamic N)' if args.dynamic_batch else ''))
    report = {}
    if args.verify is not None:
        report = verify(args.out, model, infer, shape, args.dynamic_batch,
                        args.verify)
        for name, diff in report.items():
            print(f'max |onnxruntime - PyTorch| {name}: {diff:.3g}')
    return report


def verify(path, model, infer, shape, dynamic_batch, images):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    rng = np.random.default_rng(0)
    report = {}
    for batch in ((1, 3) if dynamic_batch else (1, )):
        x = rng.uniform(0, 255, (batch, 3) + tuple(shape)).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        report[f'random, batch {batch}'] = float(
            np.abs(onnx_scores(path, x, session) - ref).max())
    for image in images:
        # the pipeline's resized pixels, as PyTorch sees them
        prepared = infer._prepare(image)['inputs']
        rgb = prepared.flip(0).float().numpy()[None]
        ref = np.array([infer([image])[0]['scores'][c]
                        for c in infer.classes])
        report[f'image {image}'] = float(
            np.abs(onnx_scores(path, rgb, session)[0] - ref).max())
    return report


if __name__ == '__main__':
    main()
