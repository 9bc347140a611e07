"""The curves of a training run, read from its work dir: the
``vis_data/scalars.json`` of every launch (a resumed run has one per
launch; a later launch's value of a step replaces an earlier one).

Per epoch: the mean training loss, the learning rate at its last logged
iteration, and the validation metrics (``mAP``; with the EMA hook also
``raw/mAP`` and ``ema/mAP``). Per logged iteration: the learning rate.
"""
import glob
import json
import os.path as osp
from typing import Dict, List


class NoRunLogError(FileNotFoundError):
    """A work dir without the logs of a training run."""


def scalar_files(work_dir: str) -> List[str]:
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise NoRunLogError(
            f'{work_dir}: no <timestamp>/vis_data/scalars.json (the logs '
            'tools/train.py writes into its work dir); is it a work dir?')
    return files


def read_run(work_dir: str) -> Dict[str, object]:
    """``epochs`` (sorted), ``loss`` / ``lr`` (per epoch, None where not
    logged), ``iter_steps`` / ``iter_lr`` (per logged iteration),
    ``val`` ({metric: {epoch: value}}) and ``step_s`` (mean seconds per
    logged training iteration)."""
    train, val = {}, {}
    for path in scalar_files(work_dir):
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except ValueError:  # a line cut by a kill
                    continue
                if 'loss' in row and 'epoch' in row:
                    train[row.get('step', len(train))] = row
                elif 'step' in row and any(k.endswith('mAP') for k in row):
                    val[int(row['step'])] = row
    by_epoch: Dict[int, list] = {}
    for step in sorted(train):
        by_epoch.setdefault(int(train[step]['epoch']), []).append(
            train[step])
    epochs = sorted(set(by_epoch) | set(val))
    out = dict(epochs=epochs, loss=[], lr=[], val={},
               iter_steps=sorted(train),
               iter_lr=[train[s].get('lr') for s in sorted(train)])
    for e in epochs:
        rows = by_epoch.get(e, [])
        out['loss'].append(sum(r['loss'] for r in rows) / len(rows)
                           if rows else None)
        out['lr'].append(rows[-1].get('lr') if rows else None)
    for e, row in sorted(val.items()):
        for key, value in row.items():
            if key in ('step', 'time', 'data_time') or not isinstance(
                    value, (int, float)):
                continue
            out['val'].setdefault(key, {})[e] = float(value)
    times = [r['time'] for r in train.values() if 'time' in r]
    out['step_s'] = sum(times) / len(times) if times else None
    return out


__all__ = ['read_run', 'scalar_files', 'NoRunLogError']
