"""Predict labels with an exported mlic ONNX model - no PyTorch, no mlic.

    python tools/deployment/onnx_infer.py MODEL.onnx IMAGES_OR_FOLDERS...
        [--out preds.jsonl|.csv] [--thr-file thresholds.json | --thr 0.5]
        [--topk K] [--batch-size 8] [--resume] [--max-pixels N]

Needs only onnxruntime, numpy and Pillow: copy this file next to the model
on the machine that deploys it. Everything else comes from the model's
metadata, written by tools/deployment/export_onnx.py: the class names, the
per-class thresholds, the input size and the test pipeline's resize rule
(its interpolation, reproduced here as OpenCV computes it); the input
normalisation is inside the graph. The output is the one of
tools/infer.py: one JSON object per image (img_path, scores of every
class, pred_labels, pred_scores), or a CSV with a score column per class.

Images are read as tools/infer.py (OpenCV) reads them, whatever mode
Pillow returns: 16-bit images keep their high byte, CMYK is converted with
OpenCV's formulas, alpha is dropped; 32-bit integer and float samples are
refused as OpenCV refuses them. An image that declares more than
--max-pixels pixels (default $MLIC_MAX_IMAGE_PIXELS or 2**28) is skipped
before it is decoded, like any unreadable file. Results are written as
they come to OUT.partial and renamed to OUT at the end; --resume continues
an unfinished run of the same model, thresholds and inputs (OUT.run.json
says which), and OUT.lock keeps a second run off the same output.
"""
import argparse
import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import os.path as osp
import socket
import sys
import time

import numpy as np
from PIL import Image, ImageOps

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


MAX_IMAGE_PIXELS = 1 << 28
MAX_IMAGE_BYTES = 512 * 1024 * 1024


def max_pixels(value=None):
    if value is None:
        value = os.environ.get('MLIC_MAX_IMAGE_PIXELS') or MAX_IMAGE_PIXELS
    return int(value)


def _cmyk_to_rgb(cmyk, fmt):
    """OpenCV's conversions: its own for JPEG, libtiff's for TIFF."""
    c = cmyk.astype(np.int32)
    k = 255 - c[..., 3:4]
    if fmt == 'JPEG':
        rgb = k - ((c[..., :3] * k) >> 8)
    else:
        rgb = (k * (255 - c[..., :3])) // 255
    return rgb.astype(np.uint8)


def to_rgb(im, fmt=None):
    """A Pillow image (any mode) as the H x W x 3 uint8 RGB array OpenCV's
    ``imread(IMREAD_COLOR)`` gives for the same file (``fmt``: the file's
    format, 'PNG', 'JPEG', ...)."""
    mode, fmt = im.mode, fmt or im.format
    if mode.startswith('I;16') or (mode == 'I' and fmt == 'PNG'):
        grey = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ('I', 'F'):
        kind = '32-bit integer' if mode == 'I' else 'floating-point'
        raise OSError(errno.EINVAL, f'{kind} '
                      'samples: not read (tools/infer.py, with OpenCV, does '
                      'not read them either); save the image with 8 or 16 '
                      'bits per sample')
    if mode == 'CMYK':
        return _cmyk_to_rgb(np.asarray(im), fmt)
    return np.asarray(im.convert('RGB'))


def load_rgb(path, limit=None):
    """Read an image as tools/infer.py does (:func:`to_rgb`), refusing
    non-regular files, files over 512 MiB and images over ``limit`` pixels
    before decoding them (``OSError`` naming the reason)."""
    if not osp.isfile(path):
        raise OSError(errno.EINVAL, 'not a regular file; not read')
    if osp.getsize(path) > MAX_IMAGE_BYTES:
        raise OSError(errno.EFBIG, f'over {MAX_IMAGE_BYTES} bytes; not read')
    limit = max_pixels(limit)
    with open(path, 'rb') as f:
        data = f.read()
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise OSError(errno.EFBIG, f'{err}; not decoded') from None
    with im:
        w, h = im.size
        if w * h > limit:
            raise OSError(
                errno.EFBIG, f'declares {w} x {h} pixels, over the limit of '
                f'{limit}; not decoded (raise it with --max-pixels or '
                'MLIC_MAX_IMAGE_PIXELS if the image is real)')
        try:
            return to_rgb(ImageOps.exif_transpose(im), im.format)
        except (ValueError, SyntaxError, Image.DecompressionBombError) as err:
            raise OSError(errno.EINVAL, f'not a readable image ({err})') \
                from None


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


def format_line(r, classes, fmt):
    if fmt == '.jsonl':
        return json.dumps(r) + '\n'
    buf = io.StringIO()
    csv.writer(buf).writerow([r['img_path']]
                             + [f'{r["scores"][c]:.6f}' for c in classes]
                             + [' '.join(r['pred_labels'])])
    return buf.getvalue()


def _sha256(chunks):
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def _open_own(path, flags):
    """Open a fixed-name file without following a link planted there."""
    fd = os.open(path, flags | getattr(os, 'O_NOFOLLOW', 0), 0o644)
    if not os.path.isfile(path) or os.path.islink(path):
        os.close(fd)
        raise SystemExit(f'error: {path} is not a regular file; remove it')
    return fd


class Output:
    """OUT.partial written as results come, renamed to OUT at the end;
    OUT.run.json says which run wrote it; OUT.lock is held meanwhile."""

    def __init__(self, out, classes, run, resume):
        self.out, self.classes = out, classes
        self.fmt = osp.splitext(out)[1]
        self.partial, self.run_file = out + '.partial', out + '.run.json'
        self.lock = _open_own(out + '.lock', os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.lseek(self.lock, 0, 0)
            who = os.read(self.lock, 4096).decode('utf-8', 'replace')
            raise SystemExit(f'error: {out} is being written by another '
                             f'process ({who}); wait for it or stop it')
        os.ftruncate(self.lock, 0)
        os.write(self.lock, f'pid {os.getpid()} on {socket.gethostname()} '
                 f'since {time.ctime()}'.encode())
        self.file = None
        try:
            self._open(run, resume)
        except BaseException:
            self.release()
            raise

    def _open(self, run, resume):
        out, classes = self.out, self.classes
        self.done, self.count = set(), 0
        if osp.lexists(self.partial) and not resume:
            raise SystemExit(f'error: {self.partial} holds an unfinished '
                             'run; pass --resume to continue it, or delete '
                             'it to start again')
        good = 0
        if resume and osp.lexists(self.partial):
            try:
                with open(self.run_file, encoding='utf-8') as f:
                    old = json.load(f)
            except (OSError, ValueError):
                old = None
            diff = [k for k in run if old is None or old.get(k) != run[k]]
            if diff:
                raise SystemExit(
                    f'error: cannot resume {self.partial}: written by another '
                    f'run (differs in: {", ".join(diff)}); resume with the '
                    'same model, thresholds, options and inputs, or delete '
                    'it to start again')
            with open(_open_own(self.partial, os.O_RDONLY), 'rb') as f:
                for k, raw in enumerate(f):
                    if not raw.endswith(b'\n'):
                        break  # a line cut by a kill
                    if self.fmt == '.csv' and k == 0:
                        good += len(raw)
                        continue
                    try:
                        name = json.loads(raw)['img_path'] if \
                            self.fmt == '.jsonl' else next(csv.reader(
                                [raw.decode('utf-8')]))[0]
                    except (ValueError, KeyError, StopIteration):
                        break
                    self.done.add(name)
                    good += len(raw)
            self.count = len(self.done)
        self.file = open(_open_own(self.partial, os.O_RDWR | os.O_CREAT),
                         'r+b')
        self.file.truncate(good)
        self.file.seek(good)
        if good == 0 and self.fmt == '.csv':
            buf = io.StringIO()
            csv.writer(buf).writerow(['img_path'] + list(classes)
                                     + ['pred_labels'])
            self.file.write(buf.getvalue().encode('utf-8'))
        tmp = osp.join(osp.dirname(osp.abspath(out)),
                       f'.tmp-{os.getpid()}-{osp.basename(self.run_file)}')
        with open(_open_own(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                  'w', encoding='utf-8') as f:
            json.dump(run, f)
        os.replace(tmp, self.run_file)

    def write(self, results):
        self.file.write(''.join(format_line(r, self.classes, self.fmt)
                                for r in results).encode('utf-8'))
        self.file.flush()
        self.count += len(results)

    def finish(self):
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.partial, self.out)
        self.release()

    def release(self):
        if self.file is not None and not self.file.closed:
            self.file.close()
        if self.lock is None:
            return
        try:
            os.remove(self.out + '.lock')
        except OSError:
            pass
        os.close(self.lock)
        self.lock = None


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
    parser.add_argument('--resume', action='store_true',
                        help='continue OUT.partial of the same run')
    parser.add_argument('--max-pixels', type=int,
                        help='skip images that declare more pixels (default '
                        '$MLIC_MAX_IMAGE_PIXELS or 2**28)')
    args = parser.parse_args(argv)
    if args.out and not args.out.endswith(('.jsonl', '.csv')):
        parser.error('--out: a .jsonl or .csv file')
    if args.resume and not args.out:
        parser.error('--resume needs --out')
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
    limit = max_pixels(args.max_pixels)
    batch_dim = session.get_inputs()[0].shape[0]
    batch_size = args.batch_size if not isinstance(batch_dim, int) else \
        batch_dim
    out = None
    if args.out:
        with open(args.model, 'rb') as f:
            model_sha = _sha256(iter(lambda: f.read(1 << 20), b''))
        run = dict(model_sha256=model_sha, classes=list(classes),
                   thresholds=[float(t) for t in thr], topk=args.topk,
                   inputs_sha256=_sha256(os.fsencode(p) + b'\0'
                                         for p in images))
        out = Output(args.out, classes, run, args.resume)
        if out.done:
            print(f'--resume: {len(out.done)} images already in '
                  f'{out.partial}', file=sys.stderr)
            images = [p for p in images if p not in out.done]
    results, skipped = [], []
    try:
        for start in range(0, len(images), batch_size):
            paths, pixels = [], []
            for path in images[start:start + batch_size]:
                try:
                    pixels.append(resize(load_rgb(path, limit), size,
                                         interpolation))
                    paths.append(path)
                except OSError as err:
                    skipped.append(path)
                    print(f'skipped {path}: {err.strerror or err}',
                          file=sys.stderr)
            if not pixels:
                continue
            batch = np.stack(pixels).transpose(0, 3, 1, 2).astype(np.float32)
            scored = [result(p, s, classes, thr, args.topk) for p, s in zip(
                paths, session.run(['scores'], {'images': batch})[0])]
            if out is not None:
                out.write(scored)
            else:
                results.extend(scored)
    except BaseException:
        if out is not None:
            out.release()
            print(f'stopped; {out.count} predictions so far are in '
                  f'{out.partial} (--resume continues)', file=sys.stderr)
        raise
    if out is not None:
        out.finish()
        done = out.count
        print(f'Predictions for {done} images written to {args.out}')
    else:
        done = len(results)
        for r in results:
            print(f'{r["img_path"]}  ' + (', '.join(
                f'{n} {s:.2f}' for n, s in zip(r['pred_labels'],
                                               r['pred_scores'])) or '-'))
    print(f'{done} images predicted, {len(skipped)} skipped')
    return 0 if done else 1


if __name__ == '__main__':
    sys.exit(main())
