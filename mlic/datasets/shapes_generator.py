"""The generator of the built-in dataset: procedural multi-label "shapes",
rendered and written in COCO format (the dataset class is in
:mod:`mlic.datasets.shapes`).

Images hold 1-4 shapes of 12 classes, each of a random (saturated) colour,
size, texture and a small rotation, possibly overlapping, on a cluttered
background (muted colour gradients, noise, thin random strokes and blobs).
Colour carries no class information, so a colour histogram cannot solve
it; some classes differ only in outline (circle / ring, square / frame). A
shape kept in an image stays at least 70% visible, so no label refers to an
invisible object.

The split is written to disk as JPEG images plus an ``instances_<split>.json``
(one bbox and category per object) and read by :class:`CocoMultiLabel`, the
same code that reads MS-COCO. Generation is deterministic: image ``i`` of a
split depends only on (seed, split, i).

Cache: ``$MLIC_DATA_CACHE`` if set, else ``~/.cache/mlic``; each version /
seed / size gets its own folder, created atomically on first use (or by
``python tools/misc/generate_shapes.py``).
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from mlic.utils.child_processes import pid_alive


SHAPE_CLASSES = ('circle', 'ring', 'square', 'frame', 'triangle', 'diamond',
                 'bar', 'star', 'cross', 'crescent', 'heart', 'arrow')
GENERATOR_VERSION = 3
# Shapes are drawn upright up to this rotation (radians, about 25 deg).
MAX_ROTATION = 0.44
# Fraction of each shape's area that stays visible under later shapes.
MIN_VISIBLE = 0.7
DEFAULT_SPLITS = dict(train=4000, val=1000)
_SPLIT_IDS = dict(train=1, val=2, test=3)

# The many-label variant ('combos'): a class is a shape of one of six hues
# and one of three sizes, 12 x 6 x 3 = 216 classes, for large label spaces
# (docs/large_scale.md). Hues are OpenCV hues (0-180), jittered +-5.
COMBO_HUES = (('red', 0), ('yellow', 30), ('green', 60), ('cyan', 90),
              ('blue', 120), ('magenta', 150))
# radius as a fraction of the image side
COMBO_SIZES = (('small', (0.10, 0.14)), ('medium', (0.17, 0.21)),
               ('large', (0.25, 0.30)))
COMBO_CLASSES = tuple(f'{hue}_{size}_{shape}' for shape in SHAPE_CLASSES
                      for hue, _ in COMBO_HUES for size, _ in COMBO_SIZES)
VARIANTS = ('shapes', 'combos')


def variant_classes(variant: str = 'shapes') -> tuple:
    if variant not in VARIANTS:
        raise ValueError(f'shapes variant={variant!r}: one of {VARIANTS}')
    return SHAPE_CLASSES if variant == 'shapes' else COMBO_CLASSES


def default_cache_dir() -> str:
    return os.environ.get('MLIC_DATA_CACHE') or osp.join(
        osp.expanduser('~'), '.cache', 'mlic')


def shapes_root(cache_dir=None, seed=0, image_size=128,
                num_images=None, variant='shapes') -> str:
    """Folder of one generated dataset version."""
    counts = dict(DEFAULT_SPLITS, **(num_images or {}))
    tag = '_'.join(f'{k}{v}' for k, v in sorted(counts.items()))
    name = 'shapes' if variant == 'shapes' else f'shapes_{variant}'
    return osp.join(cache_dir or default_cache_dir(),
                    f'{name}_v{GENERATOR_VERSION}_seed{seed}_'
                    f'{image_size}px_{tag}')


# ----------------------------------------------------------------- drawing
def _polygon(name, rng):
    """Unit-size outline (points in [-1, 1]^2) of a polygonal class."""
    if name in ('square', 'frame'):
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8
    if name == 'triangle':
        a = np.deg2rad([90, 210, 330])
        return np.stack([np.cos(a), -np.sin(a)], 1)
    if name == 'diamond':
        return np.array([[0, -1], [0.6, 0], [0, 1], [-0.6, 0]], float)
    if name == 'bar':
        return np.array([[-1, -0.3], [1, -0.3], [1, 0.3], [-1, 0.3]], float)
    if name == 'star':
        a = np.deg2rad(np.arange(10) * 36 - 90)
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)
    if name == 'cross':
        w = 0.3
        return np.array([[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w],
                         [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w],
                         [-w, -w]], float)
    if name == 'heart':
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        x = 16 * np.sin(t)**3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) -
              np.cos(4 * t))
        pts = np.stack([x, y + 2], 1) / 17.0
        return pts
    if name == 'arrow':
        return np.array([[-1, -0.25], [0.2, -0.25], [0.2, -0.65], [1, 0],
                         [0.2, 0.65], [0.2, 0.25], [-1, 0.25]], float)
    raise KeyError(name)


def _shape_mask(name, size, cx, cy, radius, angle, rng):
    """uint8 mask (0..255, anti-aliased) of one shape."""
    mask = np.zeros((size, size), np.uint8)
    shift = 4  # sub-pixel precision for cv2 drawing
    scale = 1 << shift

    def pts_to_int(pts):
        c, s = np.cos(angle), np.sin(angle)
        rot = pts @ np.array([[c, s], [-s, c]])
        xy = rot * radius + np.array([cx, cy])
        return np.round(xy * scale).astype(np.int32)

    center = (int(round(cx * scale)), int(round(cy * scale)))
    if name == 'circle':
        cv2.circle(mask, center, int(radius * scale), 255, -1, cv2.LINE_AA,
                   shift)
    elif name == 'ring':
        thick = max(2, int(radius * rng.uniform(0.25, 0.4)))
        cv2.circle(mask, center, int((radius - thick / 2) * scale), 255,
                   thick, cv2.LINE_AA, shift)
    elif name == 'crescent':
        cv2.circle(mask, center, int(radius * scale), 255, -1, cv2.LINE_AA,
                   shift)
        off = radius * 0.55
        c2 = (int(round((cx + off * np.cos(angle)) * scale)),
              int(round((cy + off * np.sin(angle)) * scale)))
        cv2.circle(mask, c2, int(radius * 0.85 * scale), 0, -1, cv2.LINE_AA,
                   shift)
    elif name == 'frame':
        thick = max(2, int(radius * rng.uniform(0.25, 0.35)))
        pts = pts_to_int(_polygon(name, rng) * (1 - thick / (2 * radius)))
        cv2.polylines(mask, [pts], True, 255, thick, cv2.LINE_AA, shift)
    else:
        cv2.fillPoly(mask, [pts_to_int(_polygon(name, rng))], 255,
                     cv2.LINE_AA, shift)
    return mask


def _random_colour(rng, sat=(60, 256), val=(60, 256)):
    hsv = np.array([[[rng.integers(0, 180), rng.integers(*sat),
                      rng.integers(*val)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _background_colour(rng):
    # Muted colours: shapes (saturated, see render_image) stay visible.
    return _random_colour(rng, sat=(0, 90), val=(40, 220))


def _background(size, rng):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = _background_colour(rng), _background_colour(rng)
    a = rng.uniform(0, 2 * np.pi)
    t = (np.cos(a) * xx + np.sin(a) * yy)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img += rng.normal(0, rng.uniform(2, 10), img.shape).astype(np.float32)
    # Clutter: thin random strokes and small blobs, in any colour.
    for _ in range(rng.integers(2, 7)):
        colour = tuple(float(v) for v in _random_colour(rng))
        n = rng.integers(2, 5)
        pts = rng.uniform(-0.1, 1.1, (n, 2)) * size
        cv2.polylines(img, [pts.astype(np.int32)], False, colour, 1,
                      cv2.LINE_AA)
    for _ in range(rng.integers(1, 5)):
        colour = tuple(float(v) for v in _random_colour(rng))
        c = tuple(int(v) for v in rng.uniform(0, size, 2))
        axes = tuple(
            int(v) for v in rng.uniform(1, max(2.0, size * 0.03), 2) + 1)
        cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, colour,
                    -1, cv2.LINE_AA)
    return img


def _combo(cls):
    """(shape, hue index, size index) of a 'combos' class."""
    per_shape = len(COMBO_HUES) * len(COMBO_SIZES)
    shape, rest = divmod(cls, per_shape)
    hue, size = divmod(rest, len(COMBO_SIZES))
    return shape, hue, size


def render_image(seed: int, split: str, index: int, size: int = 128,
                 variant: str = 'shapes'):
    """One image and its objects: (BGR uint8 image, [(class, bbox xywh)]).

    ``variant='combos'``: classes of :data:`COMBO_CLASSES` (the hue and the
    size of a shape are part of its class)."""
    classes = variant_classes(variant)
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
    img = _background(size, rng)
    for _attempt in range(20):
        n = int(rng.integers(1, 5))
        objects = []
        masks = []
        for _ in range(n):
            cls = int(rng.integers(len(classes)))
            if variant == 'combos':
                shape_id, _, size_id = _combo(cls)
                lo, hi = COMBO_SIZES[size_id][1]
                radius = rng.uniform(lo, hi) * size
            else:
                shape_id = cls
                radius = rng.uniform(0.15, 0.3) * size
            shape = SHAPE_CLASSES[shape_id]
            cx, cy = rng.uniform(radius * 0.8, size - radius * 0.8, 2)
            angle = rng.uniform(-MAX_ROTATION, MAX_ROTATION)
            if shape in ('circle', 'ring'):
                angle = 0.0
            mask = _shape_mask(shape, size, cx, cy, radius, angle, rng)
            objects.append(cls)
            masks.append(mask)
        # Later shapes cover earlier ones: every kept shape must keep at
        # least MIN_VISIBLE of its area visible, otherwise draw a new layout.
        covered = np.zeros((size, size), bool)
        visible_ok = True
        for mask in reversed(masks):
            own = mask > 127
            area = own.sum()
            if area < 30 or (own & ~covered).sum() < MIN_VISIBLE * area:
                visible_ok = False
                break
            covered |= own
        if visible_ok:
            break
    else:  # no valid layout found: keep the shape drawn last (unoccluded)
        objects, masks = objects[-1:], masks[-1:]
    annotations = []
    for cls, mask in zip(objects, masks):
        colour = _random_colour(rng, sat=(140, 256), val=(140, 256))
        if variant == 'combos':
            hue = (COMBO_HUES[_combo(cls)[1]][1] + int(rng.integers(-5, 6))) \
                % 180
            colour = cv2.cvtColor(np.array([[[hue, rng.integers(170, 256),
                                              rng.integers(170, 256)]]],
                                           np.uint8),
                                  cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
        texture = rng.normal(0, rng.uniform(2, 8),
                             (size, size, 1)).astype(np.float32)
        alpha = mask.astype(np.float32)[..., None] / 255.0
        img = img * (1 - alpha) + (colour + texture) * alpha
        ys, xs = np.nonzero(mask > 127)
        bbox = [float(xs.min()), float(ys.min()),
                float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
        annotations.append((cls, bbox, float((mask > 127).sum())))
    return np.clip(img, 0, 255).astype(np.uint8), annotations


def _render_and_save(args):
    seed, split, index, size, img_dir, variant = args
    img, objs = render_image(seed, split, index, size, variant)
    name = f'{split}_{index:06d}.jpg'
    cv2.imwrite(osp.join(img_dir, name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return name, objs


def generate_split(out_dir, split, num_images, seed=0, size=128,
                   workers=None, variant='shapes'):
    """Write ``out_dir/{split}/*.jpg`` and ``out_dir/instances_{split}.json``."""
    img_dir = osp.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    jobs = [(seed, split, i, size, img_dir, variant)
            for i in range(num_images)]
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if workers > 1 and num_images >= 200:
        with ProcessPoolExecutor(workers) as pool:
            outputs = list(pool.map(_render_and_save, jobs, chunksize=64))
    else:
        outputs = [_render_and_save(job) for job in jobs]
    images, annotations = [], []
    for i, (name, objs) in enumerate(outputs):
        images.append(dict(id=i + 1, file_name=name, width=size, height=size))
        for cls, bbox, area in objs:
            annotations.append(
                dict(id=len(annotations) + 1, image_id=i + 1,
                     category_id=cls + 1, bbox=bbox, area=area, iscrowd=0))
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(variant_classes(variant))]
    with open(osp.join(out_dir, f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=categories,
                       info=dict(description='mlic built-in shapes',
                                 version=GENERATOR_VERSION, seed=seed)), f)


def _cache_error(parent: str, err: OSError) -> OSError:
    env = os.environ.get('MLIC_DATA_CACHE')
    source = (f'$MLIC_DATA_CACHE={env}' if env and
              osp.abspath(parent).startswith(osp.abspath(env))
              else f'the cache {parent}')
    return OSError(
        err.errno, f'cannot write the built-in dataset into {source} '
        f'({err.strerror}: {err.filename or parent}). Point MLIC_DATA_CACHE '
        'at a writable folder (export MLIC_DATA_CACHE=/path/to/cache), or '
        'generate it once where it can be written: python '
        'tools/misc/generate_shapes.py')


_TMP_PREFIX = '.shapes_tmp_'


def remove_orphaned_generations(parent: str) -> list:
    """Delete the half-written dataset folders (``.shapes_tmp_<pid>_*``)
    of generator processes that are gone (killed mid-generation)."""
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(_TMP_PREFIX):
            continue
        pid = name[len(_TMP_PREFIX):].split('_', 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(osp.join(parent, name), ignore_errors=True)
        removed.append(name)
    return removed


def ensure_shapes(cache_dir=None, seed=0, image_size=128, num_images=None,
                  workers=None, variant='shapes') -> str:
    """Generate the dataset once (atomically); return its folder.

    The folder is readable by everyone the umask allows (a team's shared
    cache), and a generation killed half-way leaves nothing behind that
    the next one does not clean up.
    """
    variant_classes(variant)  # a bad name fails now
    counts = dict(DEFAULT_SPLITS, **(num_images or {}))
    root = shapes_root(cache_dir, seed, image_size, num_images, variant)
    if osp.isfile(osp.join(root, 'DONE')):
        return root
    parent = osp.dirname(root)
    try:
        if osp.exists(parent) and not osp.isdir(parent):
            raise FileExistsError(17, 'it is a file, not a folder', parent)
        os.makedirs(parent, exist_ok=True)
        remove_orphaned_generations(parent)
        tmp = tempfile.mkdtemp(prefix=f'{_TMP_PREFIX}{os.getpid()}_',
                               dir=parent)
    except OSError as err:
        raise _cache_error(parent, err) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700
        for split, n in counts.items():
            generate_split(tmp, split, n, seed, image_size, workers,
                           variant)
        with open(osp.join(tmp, 'DONE'), 'w') as f:
            f.write(json.dumps(dict(version=GENERATOR_VERSION, seed=seed,
                                    image_size=image_size, counts=counts,
                                    variant=variant)))
        try:
            os.rename(tmp, root)  # atomic; another process may have won
        except OSError:
            if not osp.isfile(osp.join(root, 'DONE')):
                raise
    except OSError as err:
        raise _cache_error(parent, err) from None
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return root
