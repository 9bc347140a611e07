"""Images per second of each way to tag a folder, as a user runs it (whole
commands, start-up included): ``infer.py`` in one process,
``dist_infer.sh`` with N processes, and ``infer.py --engine ray`` with 1..K
model workers; and how fast one core decodes images for the model.

    python tools/benchmarks/benchmark_tagging_engines.py CONFIG [CKPT] FOLDER
        [--procs 2] [--ray-workers 1 2 1x2] [--batch-size 32] [--limit 3000]
        [--decode-folder JPEGS_448 --decode-config coco_r101_448.py]
    python tools/benchmarks/benchmark_tagging_engines.py CONFIG FOLDER \
        --driver-classes 80 1000

Without CKPT a random-weight checkpoint of the model is written to a
temporary folder (the speed is the same). Every command writes JSONL to a
temporary folder. Printed: wall seconds, img/s, the ratio to the best local
path, and for Ray the start-up time and the rate without it.
``--decode-folder``: img/s of reading + the test pipeline in this process
on one thread (one core's decoding rate; no model).
"""
import argparse
import os
import os.path as osp
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(cmd, env=None):
    full = dict(os.environ, **(env or {}))
    full['PYTHONPATH'] = os.pathsep.join([ROOT, full.get('PYTHONPATH', '')])
    full.setdefault('PYTHON', sys.executable)  # dist_launch.sh's python
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True,
                         text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed:\n{res.stderr[-3000:]}')
    return wall, res.stdout + res.stderr


def decode_rate(config, folder, limit):
    from mlic.apis import list_images
    from mlic.apis.inferencer import prepare_item, test_pipelines
    from mlic.utils import load_config, register_all_modules
    register_all_modules()
    torch.set_num_threads(1)
    pipelines = test_pipelines(load_config(config))
    images = list_images(folder)[:limit]
    prepare_item(pipelines, images[0])
    start = time.perf_counter()
    for path in images:
        _, err = prepare_item(pipelines, path)
        if err is not None:
            raise err
    return len(images), len(images) / (time.perf_counter() - start)


def driver_rate(num_classes, count=20000):
    """Images per second one driver process turns into written results,
    for ``num_classes`` classes: JSONL lines made elsewhere (what the Ray
    engine's driver does: the model actors make them) and made here, and
    Parquet rows (made here); and the bytes an image takes."""
    import types

    import numpy as np

    from mlic.apis import MultiLabelInferencer
    from mlic.apis.result_files import format_line
    from mlic.apis.tagging import open_writer
    classes = [f'class_{k}' for k in range(num_classes)]
    fake = types.SimpleNamespace(classes=classes,
                                 thresholds=np.full(num_classes, 0.5))
    rng = np.random.default_rng(0)
    arrays = [(rng.random((256, num_classes), dtype=np.float32) ** 4,
               [f'/archive/{k + j:09d}.jpg' for j in range(256)])
              for k in range(0, count, 256)]
    batches = [[MultiLabelInferencer.result(fake, p, s, None)
                for p, s in zip(paths, scores)] for scores, paths in arrays]
    lines = [[format_line(r, '.jsonl', classes) for r in b]
             for b in batches]
    tmp = tempfile.mkdtemp(prefix='mlic_driver_')
    try:
        return _write_rates(tmp, batches, lines, arrays, fake.thresholds,
                            classes, open_writer)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # up to GBs of output


def _write_rates(tmp, batches, lines, arrays, thresholds, classes,
                 open_writer):
    n = sum(len(b) for b in batches)
    rates = {}
    for name, ext, feed in (('JSONL lines', '.jsonl', 'lines'),
                            ('JSONL results', '.jsonl', 'results'),
                            ('Parquet results', '.parquet', 'results'),
                            ('Parquet score arrays', '.parquet', 'arrays')):
        path = osp.join(tmp, name.replace(' ', '_') + ext)
        writer = open_writer(path, classes)
        start = time.perf_counter()
        for b, ls, (scores, paths) in zip(batches, lines, arrays):
            if feed == 'lines':
                writer.write_lines(ls)
            elif feed == 'arrays':  # the Ray driver's Parquet path
                writer.write_scores(paths, scores, thresholds)
            else:
                writer.write(b)
        writer.finish()
        rates[name] = (n / (time.perf_counter() - start),
                       os.path.getsize(path) / n)
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('paths', nargs='+', help='[CKPT] FOLDER')
    parser.add_argument('--procs', type=int, default=2,
                        help='dist_infer.sh processes (0: skip)')
    parser.add_argument('--ray-workers', nargs='*', default=['1', '2'],
                        help='model workers of each Ray run; KxC: K '
                        'workers of C CPUs each (default 1 CPU)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--limit', type=int, default=3000)
    parser.add_argument('--decode-folder')
    parser.add_argument('--decode-config',
                        help="whose test pipeline --decode-folder's images "
                        'go through (default CONFIG), e.g. '
                        'configs/q2l_irpe/coco_r101_448.py')
    parser.add_argument('--driver-classes', type=int, nargs='*',
                        help='only measure the driver\'s write rate for '
                        'these class counts')
    args = parser.parse_args(argv)
    if args.driver_classes:
        for c in args.driver_classes:
            for name, (rate, size) in driver_rate(c).items():
                print(f'driver, {c} classes, {name}: {rate:.0f} img/s, '
                      f'{size:.0f} B/image')
        return
    tmp = tempfile.mkdtemp(prefix='mlic_engines_')
    try:
        return _run_engines(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_engines(args, tmp):
    ckpt, folder = (args.paths if len(args.paths) == 2
                    else (None, args.paths[0]))
    from mlic.apis import list_images
    images = list_images(folder)[:args.limit]
    listing = osp.join(tmp, 'images')
    os.makedirs(listing)
    for k, path in enumerate(images):  # exactly --limit images, linked
        os.symlink(osp.abspath(path),
                   osp.join(listing, f'{k:07d}{osp.splitext(path)[1]}'))
    if ckpt is None:
        from mlic.apis import MultiLabelInferencer
        infer = MultiLabelInferencer(args.config, device='cpu')
        ckpt = osp.join(tmp, 'random.pth')
        torch.save(dict(state_dict=infer.model.state_dict()), ckpt)
    base = [args.config, ckpt, listing, '--batch-size',
            str(args.batch_size), '--device', 'cpu']
    rows = []
    wall, _ = run([sys.executable, 'tools/infer.py'] + base
                  + ['--out', osp.join(tmp, 'one.jsonl')])
    rows.append(('infer.py, 1 process', wall, None))
    if args.procs:
        wall, _ = run(['bash', 'tools/dist_infer.sh', args.config, ckpt,
                       str(args.procs), listing, '--batch-size',
                       str(args.batch_size), '--device', 'cpu', '--out',
                       osp.join(tmp, 'dist')],
                      env=dict(OMP_NUM_THREADS=str(
                          max(1, (os.cpu_count() or 1) // args.procs))))
        rows.append((f'dist_infer.sh, {args.procs} processes', wall, None))
    for spec in args.ray_workers:
        workers, _, cpus = spec.partition('x')
        cpus = cpus or '1'
        wall, text = run([sys.executable, 'tools/infer.py'] + base
                         + ['--engine', 'ray', '--model-workers', workers,
                            '--cpus-per-worker', cpus, '--out',
                            osp.join(tmp, f'ray{spec}.jsonl')],
                         env=dict(RAY_USAGE_STATS_ENABLED='0'))
        m = re.search(r'Ray start-up ([\d.]+) s', text)
        share = re.search(r'worker time (\d+)% decode', text)
        steady = re.search(r'first results after ([\d.]+) s, then '
                           r'([\d.]+) img/s', text)
        rows.append((f'--engine ray, {workers} model worker(s) x {cpus} '
                     'CPU', wall,
                     (float(m.group(1)) if m else None,
                      share.group(1) if share else '?',
                      steady.groups() if steady else ('?', '?'))))
    # infer.py's own loop once started (this process, after a warm-up):
    # the rate to hold the Ray rate after its first results against
    from mlic.apis import MultiLabelInferencer
    infer = MultiLabelInferencer(args.config, ckpt, device='cpu')
    infer(images[:args.batch_size], batch_size=args.batch_size)
    start = time.perf_counter()
    done = sum(len(b) for b in infer.iter_batches(images, args.batch_size))
    loop_rate = done / (time.perf_counter() - start)
    n = len(images)
    best = max(n / w for name, w, r in rows if r is None)
    print(f'{n} images from {folder}, batch {args.batch_size}, cpu, the '
          "config's evaluation precision; "
          f'{platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} CPUs; whole commands (start-up included)')
    print('| path | wall s | img/s | x best local | Ray start-up s | '
          'first results after s | img/s from then | worker time '
          'decoding |')
    print('|---|---|---|---|---|---|---|---|')
    for name, wall, ray in rows:
        extra = '| - | - | - | - |'
        if ray is not None and ray[0] is not None:
            extra = (f'| {ray[0]:.1f} | {ray[2][0]} | {ray[2][1]} '
                     f'| {ray[1]}% |')
        print(f'| {name} | {wall:.1f} | {n / wall:.1f} | '
              f'{n / wall / best:.2f} {extra}')
    print(f'infer.py\'s loop once started (in this process, '
          f'{torch.get_num_threads()} threads): {loop_rate:.1f} img/s; '
          'Ray from its first results: ' + ', '.join(
              f'{float(r[2][1]) / loop_rate:.2f}x' for _, _, r in rows
              if r is not None and r[2][1] != '?'))
    if args.decode_folder:
        count, rate = decode_rate(args.decode_config or args.config,
                                  args.decode_folder, args.limit)
        print(f'decoding + test pipeline, one core: {rate:.1f} img/s '
              f'({count} images from {args.decode_folder})')


if __name__ == '__main__':
    main()
