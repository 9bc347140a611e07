"""Train the demo under every label regime x unknown-label mode; print the
table of docs/partial_labels.md.

    python tools/benchmarks/partial_labels.py --work-dir work_dirs/partial \
        [--parallel 4] [--epochs 30] [--deadline 3600] [--seeds 3]

Each run is ``tools/train.py configs/partial_labels/shapes_demo_hidden.py``
with the ``--cfg-options`` printed in the table (the command of the row).
Runs go ``--parallel`` at a time, in the order of ``jobs()``: the seed-0
grid first, then the demo's own 30-epoch schedule for section 0 of the
page, then seeds 1 and 2 of full labels and of the best mode of each
regime. Past ``--deadline`` seconds nothing new starts and running jobs
are stopped; what finished is in ``--out`` (JSON, written after every run)
and in the printed table. Metrics are those of the final epoch on the
fully labelled validation split (no epoch picked on it).

    python tools/benchmarks/partial_labels.py --plot curves.png \
        --runs 'name=WORK_DIR' 'name=RESULTS.json#run' ... [--title ...]

draws the validation mAP of each run's work dir by epoch (the figure of
docs/partial_labels.md).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/partial_labels/shapes_demo_hidden.py'
KEYS = ('mAP', 'CF1', 'OF1')
# mean positives per image of the demo's train split (EPR's k)
DEMO_POSITIVES = 1.83
DEMO_TRAIN_IMAGES = 4000  # ROLE's label table

REGIMES = {
    'full': dict(mode='random', fraction=0.0),
    'hide50': dict(mode='random', fraction=0.5),
    'hide75': dict(mode='random', fraction=0.75),
    'single': dict(mode='single_positive', fraction=None),
    # half of each class's images (each class loses the same share)
    'hide50pc': dict(mode='per_class', fraction=0.5),
    # every positive known, nothing said of the rest (tags)
    'posonly': dict(mode='negatives', fraction=1.0),
}


def loss_modes(regime, epochs):
    """(name, loss options) of each mode; the large-loss rate reaches about
    the share of positives among the unknowns by the last epoch: 0.15 with
    labels hidden at random (0.5 x 1.83 of 6 unknowns), 0.0725 with single
    positives ((1.83 - 1) / 11 is 0.075; 0.0025 an epoch over 30)."""
    share = 0.0725 if regime == 'single' else 0.15
    rate = round(share / max(epochs - 1, 1), 5)
    modes = [('ignore', dict(mode='ignore')),
             ('negative', dict(mode='negative')),
             # positives only: no known negative, so the prior from known
             # labels would be 1 (PartialLabelLoss's docstring)
             ('selective', dict(mode='selective', prior='images')
              if regime in ('single', 'posonly') else
              dict(mode='selective')),
             ('ll_reject', dict(mode='large_loss', correction='reject',
                                rate_per_epoch=rate)),
             ('ll_flip', dict(mode='large_loss', correction='flip',
                              rate_per_epoch=rate)),
             ('epr', dict(mode='epr', expected_positives=DEMO_POSITIVES)),
             ('role', dict(mode='role', expected_positives=DEMO_POSITIVES,
                           num_images=DEMO_TRAIN_IMAGES))]
    if regime in ('single', 'posonly'):
        modes.insert(2, ('wan', dict(mode='negative',
                                     negative_weight='wan')))
    return modes


def options(regime, loss, epochs, seed, extra=()):
    opts = [f'train_cfg.max_epochs={epochs}', f'randomness.seed={seed}']
    for key, value in REGIMES[regime].items():
        opts.append(f'train_dataloader.dataset.{key}={value}')
    for key, value in loss.items():
        opts.append(f'model.head.loss.{key}={value}')
    return opts + list(extra)


def jobs(epochs, seeds):
    """The seed-0 grid, then the demo's 30 epochs, then more seeds (the
    latter filled in once the grid is known: see ``more_seeds``)."""
    out = [dict(name=f'full_e{epochs}_s0', regime='full', mode='ignore',
                epochs=epochs, seed=0,
                opts=options('full', dict(mode='ignore'), epochs, 0))]
    for regime in ('hide50', 'single', 'hide75'):
        for mode, loss in loss_modes(regime, epochs):
            out.append(dict(name=f'{regime}_{mode}_e{epochs}_s0',
                            regime=regime, mode=mode, epochs=epochs, seed=0,
                            opts=options(regime, loss, epochs, 0)))
    if epochs != 30:
        for regime, mode in (('full', 'ignore'), ('hide50', 'ignore'),
                             ('hide50', 'negative'), ('single', 'negative')):
            loss = dict(loss_modes(regime, 30))[mode]
            out.append(dict(name=f'{regime}_{mode}_e30_s0', regime=regime,
                            mode=mode, epochs=30, seed=0,
                            opts=options(regime, loss, 30, 0)))
    return out


def more_seeds(results, epochs, seeds):
    """Seeds 1.. of full labels and of each regime's best mode."""
    best = {}
    for r in results.values():
        if r.get('epochs') != epochs or r.get('seed') != 0 or \
                'final' not in r:
            continue
        if r['regime'] not in best or r['final']['mAP'] > \
                best[r['regime']]['final']['mAP']:
            best[r['regime']] = r
    out = []
    for seed in range(1, seeds):
        for regime in ('full', 'hide50', 'single', 'hide75'):
            if regime not in best:
                continue
            mode = best[regime]['mode']
            loss = dict(loss_modes(regime, epochs))[mode] \
                if regime != 'full' else dict(mode='ignore')
            # another seed: of the model's initialisation and of the
            # hidden labels alike
            extra = [f'train_dataloader.dataset.seed={seed}']
            out.append(dict(name=f'{regime}_{mode}_e{epochs}_s{seed}',
                            regime=regime, mode=mode, epochs=epochs,
                            seed=seed,
                            opts=options(regime, loss, epochs, seed, extra)))
    return out


def catalogue(epochs, seeds):
    """Every job this script knows by name: each regime x mode x seed
    (``--only`` picks from it, in the order given)."""
    out = {}
    for seed in range(seeds):
        extra = [f'train_dataloader.dataset.seed={seed}'] if seed else []
        out[f'full_e{epochs}_s{seed}'] = dict(
            name=f'full_e{epochs}_s{seed}', regime='full', mode='ignore',
            epochs=epochs, seed=seed,
            opts=options('full', dict(mode='ignore'), epochs, seed, extra))
        for regime in REGIMES:
            if regime == 'full':
                continue
            for mode, loss in loss_modes(regime, epochs):
                name = f'{regime}_{mode}_e{epochs}_s{seed}'
                out[name] = dict(name=name, regime=regime, mode=mode,
                                 epochs=epochs, seed=seed,
                                 opts=options(regime, loss, epochs, seed,
                                              extra))
    return out


def read_run(work_dir):
    """Per-epoch validation metrics and the mean training step time."""
    from mlic.visualization.run_logs import NoRunLogError
    from mlic.visualization.run_logs import read_run as read_logs
    try:
        run = read_logs(work_dir)
    except NoRunLogError:
        return dict(curve=[])
    val = run['val']
    epochs = sorted(val.get('mAP', {}))
    curve = [dict(epoch=e, **{k: val[k][e] for k in KEYS}) for e in epochs]
    out = dict(curve=curve)
    if curve:
        out['final'] = curve[-1]
    if run['step_s'] is not None:
        out['step_s'] = run['step_s']
    return out


def write_json(path, data):
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def table(results):
    lines = ['| regime | mode | epochs | seed | mAP | CF1 | OF1 | s/step | '
             'train s |', '|---|---|---|---|---|---|---|---|---|']
    # a run stopped early shows the epoch it reached: 'epochs' = 'k/E'
    for r in results.values():
        if 'final' not in r:
            lines.append(f"| {r['regime']} | {r['mode']} | {r['epochs']} | "
                         f"{r['seed']} | ({r.get('status', 'not run')}) "
                         '| | | | |')
            continue
        f = r['final']
        epochs = r['epochs'] if f.get('epoch') == r['epochs'] else \
            f"{f.get('epoch')}/{r['epochs']}"
        lines.append(
            f"| {r['regime']} | {r['mode']} | {epochs} | {r['seed']} | "
            f"{f['mAP']:.2f} | {f['CF1']:.2f} | {f['OF1']:.2f} | "
            f"{r.get('step_s', float('nan')):.4f} | {r['wall_s']:.0f} |")
    return '\n'.join(lines)


def plot(path, runs, title):
    from mlic.visualization import curves_figure
    curves = {}
    for spec in runs:
        name, _, work_dir = spec.partition('=')
        if '#' in work_dir:  # RESULTS.json#run: a run of this script
            results, _, key = work_dir.partition('#')
            with open(results) as f:
                curve = json.load(f)[key].get('curve', [])
        else:
            curve = read_run(work_dir)['curve']
        if not curve:
            raise ValueError(f'{work_dir}: no validation epoch found')
        curves[name] = ([c['epoch'] for c in curve],
                        [c['mAP'] for c in curve])
    curves_figure(curves, path, 'epoch', 'val mAP (%)', title)
    print(f'wrote {path}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--plot', help='draw --runs into this PNG')
    parser.add_argument('--runs', nargs='*', default=[],
                        help="'name=WORK_DIR' (with --plot)")
    parser.add_argument('--title', default='')
    parser.add_argument('--work-dir')
    parser.add_argument('--out', default=None,
                        help='results JSON (default WORK_DIR/results.json)')
    parser.add_argument('--parallel', type=int, default=1)
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--deadline', type=float, default=float('inf'),
                        help='seconds; nothing new starts after it')
    parser.add_argument('--only', nargs='*', default=None,
                        help='run only the jobs with these names, in this '
                        'order (e.g. hide75_negative_e30_s0 full_e30_s1)')
    parser.add_argument('--config', default=CONFIG,
                        help='a config inheriting the default (tests)')
    args = parser.parse_args(argv)
    if args.plot:
        return plot(args.plot, args.runs, args.title)
    if not args.work_dir:
        parser.error('--work-dir is required (or --plot)')
    os.makedirs(args.work_dir, exist_ok=True)
    out = args.out or osp.join(args.work_dir, 'results.json')
    results = {}
    if osp.exists(out):
        with open(out) as f:
            results = json.load(f)
    if args.only is None:
        queue = jobs(args.epochs, args.seeds)
    else:
        known = catalogue(args.epochs, args.seeds)
        wrong = [n for n in args.only if n not in known]
        if wrong:
            parser.error(f'--only: no job named {wrong[0]!r}; names are '
                         'REGIME_MODE_eEPOCHS_sSEED (full_eE_sS), REGIME '
                         f'one of {sorted(REGIMES)}')
        queue = [known[n] for n in args.only]
    queue = [j for j in queue if 'final' not in results.get(j['name'], {})]
    for job in queue:
        results.setdefault(job['name'], dict(job, status='queued'))
    seeds_added = False
    start = time.time()
    running = {}
    while queue or running or not seeds_added:
        if not queue and not running and not seeds_added:
            seeds_added = True
            if args.only is None:
                queue = [j for j in more_seeds(results, args.epochs,
                                               args.seeds)
                         if 'final' not in results.get(j['name'], {})]
                for job in queue:
                    results.setdefault(job['name'],
                                       dict(job, status='queued'))
            continue
        now = time.time() - start
        late = now > args.deadline
        while queue and len(running) < args.parallel and not late:
            # a job that would not end before the deadline (judged by the
            # runs finished so far) does not start
            walls = [r['wall_s'] / r['epochs'] for r in results.values()
                     if r.get('status') == 'done']
            if walls and now + max(walls) * queue[0]['epochs'] > \
                    args.deadline:
                results[queue[0]['name']]['status'] = 'not run (deadline)'
                queue.pop(0)
                continue
            job = queue.pop(0)
            wd = osp.join(args.work_dir, job['name'])
            cmd = [sys.executable, 'tools/train.py', args.config,
                   '--work-dir', wd, '--cfg-options'] + job['opts']
            log = open(osp.join(args.work_dir, job['name'] + '.log'), 'w')
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
            running[job['name']] = (proc, time.time(), wd, log)
            results[job['name']].update(
                status='running',
                command=('python tools/train.py ' + args.config +
                         ' --cfg-options ' + ' '.join(job['opts'])))
            print(f'[{time.time() - start:6.0f}s] start {job["name"]}',
                  flush=True)
        if late and queue:
            for job in queue:
                results[job['name']]['status'] = 'not run (deadline)'
            queue = []
            seeds_added = True
        for name, (proc, t0, wd, log) in list(running.items()):
            if late and proc.poll() is None:
                proc.terminate()
                proc.wait()
            if proc.poll() is None:
                continue
            log.close()
            del running[name]
            r = results[name]
            r.update(read_run(wd), wall_s=time.time() - t0,
                     returncode=proc.returncode)
            r['status'] = 'done' if proc.returncode == 0 else (
                'stopped at the deadline' if late else
                f'failed ({proc.returncode})')
            print(f'[{time.time() - start:6.0f}s] {r["status"]} {name} '
                  f"{r.get('final', {})}", flush=True)
            write_json(out, results)
        time.sleep(0.5)
    write_json(out, results)
    print(table(results))


if __name__ == '__main__':
    main()
