"""Predict labels with an exported mlic ONNX model - no PyTorch, no mlic.

    python tools/deployment/onnx_infer.py MODEL.onnx IMAGES_OR_FOLDERS...
        [--out preds.jsonl|.csv] [--thr-file thresholds.json | --thr 0.5]
        [--topk K] [--batch-size 8]

Needs only onnxruntime, numpy and Pillow: copy this file next to the model
on the machine that deploys it. Everything else comes from the model's
metadata, written by tools/deployment/export_onnx.py: the class names, the
per-class thresholds, the input size and the test pipeline's resize rule
(its interpolation, reproduced here as OpenCV computes it); the input
normalisation is inside the graph. The output is the one of
tools/infer.py: one JSON object per image (img_path, scores of every
class, pred_labels, pred_scores), or a CSV with a score column per class.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')
META_PREFIX = 'mlic.'


def read_metadata(session) -> dict:
    """The mlic entries of the model's metadata, JSON-decoded."""
    props = session.get_modelmeta().custom_metadata_map
    meta = {k[len(META_PREFIX):]: json.loads(v) for k, v in props.items()
            if k.startswith(META_PREFIX)}
    missing = [k for k in ('classes', 'input_size', 'resize')
               if k not in meta]
    if missing:
        raise SystemExit(f'error: the model has no {missing} in its metadata: '
                         'export it again with tools/deployment/'
                         'export_onnx.py of a current mlic')
    return meta


# -- the test pipeline's resize, as OpenCV computes it ----------------------
def _linear_taps(out_size, in_size):
    """Source indices and weights of OpenCV's INTER_LINEAR (half-pixel
    centres, edges clamped)."""
    scale = in_size / out_size
    f = (np.arange(out_size) + 0.5) * scale - 0.5
    i0 = np.floor(f).astype(np.int64)
    w = f - i0
    w[i0 < 0] = 0.0
    i0 = np.clip(i0, 0, in_size - 1)
    w[i0 >= in_size - 1] = 0.0
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, w


def _area_linear_taps(out_size, in_size):
    """OpenCV's INTER_AREA when the image grows along some axis: linear
    taps with its own coefficient rule."""
    scale, inv = in_size / out_size, out_size / in_size
    dx = np.arange(out_size)
    i0 = np.floor(dx * scale).astype(np.int64)
    f = (dx + 1) - (i0 + 1) * inv
    w = np.where(f <= 0, 0.0, f - np.floor(f))
    w[i0 >= in_size - 1] = 0.0
    i0 = np.clip(i0, 0, in_size - 1)
    return i0, np.minimum(i0 + 1, in_size - 1), w


def _area_sum(cum, lo, hi):
    """Sum of rows [lo, hi) of the array whose cumulative sum (with a zero
    row first) is ``cum``; fractional bounds weigh the edge rows."""
    def at(x):
        k = np.minimum(np.floor(x).astype(np.int64), cum.shape[0] - 2)
        frac = (x - k).reshape((-1, ) + (1, ) * (cum.ndim - 1))
        return cum[k] + frac * (cum[k + 1] - cum[k])
    return at(hi) - at(lo)


def _resize_axis(img, out_size, axis, interpolation):
    in_size = img.shape[axis]
    if out_size == in_size and interpolation != 'area-linear':
        return img
    moved = np.moveaxis(img, axis, 0)
    if interpolation == 'nearest':
        # dst * (src / dst), as OpenCV computes it (not dst * src / dst)
        idx = np.minimum(np.floor(np.arange(out_size) * (in_size / out_size))
                         .astype(np.int64), in_size - 1)
        out = moved[idx]
    elif interpolation == 'area' and out_size < in_size:
        scale = in_size / out_size
        cum = np.concatenate([np.zeros((1, ) + moved.shape[1:]),
                              np.cumsum(moved, axis=0)])
        lo = np.arange(out_size) * scale
        out = _area_sum(cum, lo, lo + scale) / scale
    else:  # 'bilinear', or 'area-linear' (area when the image grows)
        taps = _area_linear_taps if interpolation == 'area-linear' else \
            _linear_taps
        i0, i1, w = taps(out_size, in_size)
        w = w.reshape((-1, ) + (1, ) * (moved.ndim - 1))
        out = moved[i0] * (1 - w) + moved[i1] * w
    return np.moveaxis(out, 0, axis)


def resize(rgb: np.ndarray, size, interpolation: str) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 resized to ``size`` (H, W) like
    ``cv2.resize`` with that interpolation (uint8, rounded)."""
    if interpolation not in ('nearest', 'bilinear', 'area'):
        from PIL import Image
        method = {'bicubic': Image.BICUBIC, 'lanczos': Image.LANCZOS}.get(
            interpolation, Image.BILINEAR)
        return np.asarray(Image.fromarray(rgb).resize(
            (int(size[1]), int(size[0])), method))
    out = rgb.astype(np.float64)
    if interpolation == 'area' and (size[0] > rgb.shape[0]
                                    or size[1] > rgb.shape[1]):
        interpolation = 'area-linear'  # OpenCV's rule: both axes linear
    out = _resize_axis(out, int(size[0]), 0, interpolation)
    out = _resize_axis(out, int(size[1]), 1, interpolation)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# -- inputs and outputs -----------------------------------------------------
def list_inputs(inputs):
    found, missing = [], []
    for item in inputs:
        if osp.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs.sort()
                found += [osp.join(root, f) for f in sorted(files)
                          if f.lower().endswith(IMAGE_EXTENSIONS)
                          and osp.isfile(osp.join(root, f))]
        elif osp.isfile(item):
            found.append(item)
        else:
            missing.append(item)
    return found, missing


def load_rgb(path):
    from PIL import Image, ImageOps
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert('RGB'))


def thresholds_for(classes, meta, args):
    if args.thr is not None:
        return np.full(len(classes), float(args.thr))
    if args.thr_file:
        with open(args.thr_file, encoding='utf-8-sig') as f:
            data = json.load(f)
        data = data.get('thresholds', data)
        missing = [c for c in classes if c not in data]
        if missing:
            raise SystemExit(f'error: {args.thr_file} has no threshold for '
                             f'{missing[:5]}')
        return np.array([float(data[c]) for c in classes])
    thr = meta.get('thresholds', 0.5)
    return np.broadcast_to(np.asarray(thr, dtype=np.float64),
                           (len(classes), )).copy()


def result(path, scores, classes, thr, topk):
    order = np.argsort(-scores, kind='stable')
    chosen = order[:topk] if topk else [c for c in order
                                        if scores[c] >= thr[c]]
    return dict(img_path=path,
                scores={c: float(s) for c, s in zip(classes, scores)},
                pred_labels=[classes[c] for c in chosen],
                pred_scores=[float(scores[c]) for c in chosen])


def write(out, results, classes):
    tmp = osp.join(osp.dirname(osp.abspath(out)),
                   f'.tmp-{os.getpid()}-{osp.basename(out)}')
    with open(tmp, 'w', encoding='utf-8', newline='') as f:
        if out.endswith('.csv'):
            writer = csv.writer(f)
            writer.writerow(['img_path'] + list(classes) + ['pred_labels'])
            for r in results:
                writer.writerow([r['img_path']]
                                + [f'{r["scores"][c]:.6f}' for c in classes]
                                + [' '.join(r['pred_labels'])])
        else:
            for r in results:
                f.write(json.dumps(r) + '\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('model', help='an .onnx file from export_onnx.py')
    parser.add_argument('inputs', nargs='+', help='images and/or folders')
    parser.add_argument('--out', help='.jsonl or .csv')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--thr', type=float, help='one threshold for all')
    group.add_argument('--thr-file', help='per-class thresholds (JSON)')
    parser.add_argument('--topk', type=int)
    parser.add_argument('--batch-size', type=int, default=8)
    args = parser.parse_args(argv)
    if args.out and not args.out.endswith(('.jsonl', '.csv')):
        parser.error('--out: a .jsonl or .csv file')
    import onnxruntime as ort
    session = ort.InferenceSession(args.model,
                                   providers=['CPUExecutionProvider'])
    meta = read_metadata(session)
    classes, size = meta['classes'], meta['input_size']
    interpolation = meta['resize'].get('interpolation', 'bilinear')
    thr = thresholds_for(classes, meta, args)
    images, missing = list_inputs(args.inputs)
    if missing:
        print(f'error: input(s) not found: {missing[:5]}', file=sys.stderr)
        return 2
    batch_dim = session.get_inputs()[0].shape[0]
    batch_size = args.batch_size if not isinstance(batch_dim, int) else \
        batch_dim
    results, skipped = [], []
    for start in range(0, len(images), batch_size):
        paths, pixels = [], []
        for path in images[start:start + batch_size]:
            try:
                pixels.append(resize(load_rgb(path), size, interpolation))
                paths.append(path)
            except OSError as err:
                skipped.append(path)
                print(f'skipped {path}: {err}', file=sys.stderr)
        if not pixels:
            continue
        batch = np.stack(pixels).transpose(0, 3, 1, 2).astype(np.float32)
        for p, s in zip(paths, session.run(['scores'],
                                           {'images': batch})[0]):
            results.append(result(p, s, classes, thr, args.topk))
    if args.out:
        write(args.out, results, classes)
        print(f'Predictions for {len(results)} images written to {args.out}')
    else:
        for r in results:
            print(f'{r["img_path"]}  ' + (', '.join(
                f'{n} {s:.2f}' for n, s in zip(r['pred_labels'],
                                               r['pred_scores'])) or '-'))
    print(f'{len(results)} images predicted, {len(skipped)} skipped')
    return 0 if results else 1


if __name__ == '__main__':
    sys.exit(main())
