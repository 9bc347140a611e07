import contextlib
import importlib.util
import json
import os
import os.path as osp
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

import mlic  # noqa: F401  (first: its import guards, before any mmpretrain)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(REPO, 'tests', 'data', 'tiny_shapes.py')


@pytest.fixture(scope='session', autouse=True)
def _one_thread_per_worker():
    """Under pytest-xdist (pytest.ini: 2 workers) each worker computes on
    one thread, so that two workers share two cores instead of fighting
    over them."""
    if os.environ.get('PYTEST_XDIST_WORKER'):
        import torch
        torch.set_num_threads(1)
    yield


@pytest.fixture(scope='session', autouse=True)
def _data_cache(tmp_path_factory):
    """Generated datasets go to a per-session folder, not ~/.cache."""
    cache = str(tmp_path_factory.mktemp('mlic_cache'))
    old = os.environ.get('MLIC_DATA_CACHE')
    os.environ['MLIC_DATA_CACHE'] = cache
    yield cache
    if old is None:
        os.environ.pop('MLIC_DATA_CACHE', None)
    else:
        os.environ['MLIC_DATA_CACHE'] = old


def write_random_images(folder, names, shape=(24, 32), seed=0):
    """Random colour images (``folder/<name>`` for each name); returns the
    folder."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        cv2.imwrite(osp.join(str(folder), name),
                    rng.integers(0, 255, tuple(shape) + (3, ),
                                 dtype=np.uint8))
    return str(folder)


def bomb_png(width=20000, height=20000) -> bytes:
    """A valid 1-bit PNG of width x height black pixels: a few tens of KB
    that decode to width x height x 3 bytes."""
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack(
            '>I', zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b'\x00' * (1 + (width + 7) // 8)
    raw = zlib.compress(row * height, 9)
    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 1, 0, 0,
                                         0, 0))
            + chunk(b'IDAT', raw) + chunk(b'IEND', b''))


def write_coco(root, images, categories, annotations, img_dir='images',
               ann_name='instances.json', size=16, write_images=True):
    """A COCO-format dataset on disk: ``images`` are (id, file_name)."""
    os.makedirs(osp.join(root, img_dir), exist_ok=True)
    rng = np.random.default_rng(0)
    if write_images:
        for _, name in images:
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            cv2.imwrite(osp.join(root, img_dir, name), img)
    data = dict(
        images=[dict(id=i, file_name=n, width=size, height=size)
                for i, n in images],
        categories=[dict(id=c, name=n) for c, n in categories],
        annotations=[dict(id=k + 1, image_id=i, category_id=c,
                          bbox=[0, 0, 4, 4], area=16, iscrowd=0)
                     for k, (i, c) in enumerate(annotations)])
    path = osp.join(root, ann_name)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def free_port() -> str:
    """A TCP port nothing listens on now (for torchrun's master): tests
    that launch several processes run side by side under pytest-xdist."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def run_tool(args, cwd, env=None, timeout=600, check=True):
    """Run a tools/ script (python or bash) the way a user does."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = os.pathsep.join(
        [REPO, osp.join(REPO, 'tests', 'data'),
         full_env.get('PYTHONPATH', '')])
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env['PYTHON'] = sys.executable
    if env:
        full_env.update(env)
    if args[0].endswith('.sh') and 'PORT' not in (env or {}):
        full_env['PORT'] = free_port()
    if args[0].endswith('.sh'):
        cmd = ['bash', osp.join(REPO, args[0])] + list(args[1:])
    else:
        cmd = [sys.executable, osp.join(REPO, args[0])] + list(args[1:])
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)} failed ({proc.returncode}):\n'
            f'{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc


VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')


def write_voc(root, images, splits, with_annotations=True, size=(40, 56)):
    """A VOCdevkit/VOC20xx tree: ``images`` maps an image id to a list of
    ``(class name, difficult)`` objects; ``splits`` maps a split name to the
    ids it lists. Returns ``root``."""
    root = str(root)
    for sub in ('Annotations', 'ImageSets/Main', 'JPEGImages'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    rng = np.random.default_rng(0)
    for img_id, objects in images.items():
        img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(root, 'JPEGImages', f'{img_id}.jpg'), img)
        if not with_annotations:
            continue
        objs = ''.join(
            f'<object><name>{name}</name><pose>Left</pose>'
            f'<truncated>0</truncated><difficult>{int(diff)}</difficult>'
            '<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>'
            '</bndbox></object>' for name, diff in objects)
        xml = (f'<annotation><folder>VOC</folder><filename>{img_id}.jpg'
               f'</filename><size><width>{size[1]}</width><height>{size[0]}'
               f'</height><depth>3</depth></size>{objs}</annotation>')
        with open(osp.join(root, 'Annotations', f'{img_id}.xml'), 'w') as f:
            f.write(xml)
    for split, ids in splits.items():
        with open(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'),
                  'w') as f:
            f.write(''.join(f'{i}\n' for i in ids))
    return root


def load_tool(name):
    """tools/<name>.py as a module, to call its main(argv) in-process."""
    spec = importlib.util.spec_from_file_location(
        f'mlic_tool_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_cli(opts):
    """A dict of config overrides as ``--cfg-options`` arguments."""
    out = []
    for k, v in opts.items():
        if isinstance(v, tuple):
            v = '(' + ','.join(map(str, v)) + ')'
        out.append(f'{k}={v}')
    return out


@contextlib.contextmanager
def web_demo_server(config, checkpoint, extra=(), timeout=120):
    """tools/visualization/web_demo.py on a free port; yields its URL and
    stops it at the end."""
    import time
    import urllib.request
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False',
               PYTHONPATH=os.pathsep.join([REPO, osp.join(REPO, 'tests',
                                                          'data')]))
    proc = subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools', 'visualization',
                                  'web_demo.py'), config, checkpoint,
         '--port', port, '--device', 'cpu'] + list(extra), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f'http://127.0.0.1:{port}/'
    try:
        end = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(proc.stdout.read()[-3000:])
                if time.time() > end:
                    raise AssertionError(f'the web demo did not answer in '
                                         f'{timeout} s')
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
