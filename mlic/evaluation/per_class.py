"""The per-class AP table in the layout of VOC papers, and its files.

One column per class (VOC's customary short names), then mAP; percent with
one decimal - the layout of the paper's Tables II and III. The same numbers
(full precision) are written as CSV (the same layout) and JSON.
"""
import csv
import json
import math
import os
import os.path as osp
from typing import Dict, Optional, Sequence

from mlic.fileio import atomic_write
from .metrics.multilabel import KNOWN_PREFIX, PER_CLASS_PREFIX

VOC_SHORT_NAMES = dict(
    aeroplane='aero', bicycle='bike', diningtable='table',
    motorbike='mbike', pottedplant='plant', tvmonitor='tv')


def split_per_class(metrics: dict, known: bool = False):
    """(per-class APs by class name, the other metrics); with ``known``
    also the known labels of each class by name (a third item)."""
    per_class = {k[len(PER_CLASS_PREFIX):]: v for k, v in metrics.items()
                 if k.startswith(PER_CLASS_PREFIX)}
    counts = {k[len(KNOWN_PREFIX):]: v for k, v in metrics.items()
              if k.startswith(KNOWN_PREFIX)}
    rest = {k: v for k, v in metrics.items()
            if not k.startswith((PER_CLASS_PREFIX, KNOWN_PREFIX))}
    return (per_class, rest, counts) if known else (per_class, rest)


def _fmt(value: float) -> str:
    return 'n/a' if value is None or math.isnan(value) else f'{value:.1f}'


def paper_table(per_class: Dict[str, float], mean_ap: float,
                known: Optional[Dict[str, int]] = None) -> str:
    """Two text rows: class short names + ``mAP``, and the APs; a third,
    ``known``, the known labels of each class, when ``known`` is given and
    some label is unknown or ignored."""
    heads = [VOC_SHORT_NAMES.get(c, c) for c in per_class] + ['mAP']
    values = [_fmt(v) for v in per_class.values()] + [_fmt(mean_ap)]
    rows = [heads, values]
    if known:
        rows.append([str(known.get(c, '')) for c in per_class] + ['known'])
    widths = [max(max(len(r[i]) for r in rows), 4)
              for i in range(len(heads))]
    return '\n'.join(' '.join(v.rjust(w) for v, w in zip(r, widths))
                     for r in rows)


def save_per_class(out_dir: str, per_class: Dict[str, float],
                   mean_ap: float, stem: str = 'per_class_ap',
                   known: Optional[Dict[str, int]] = None) -> Sequence[str]:
    """Write ``<stem>.csv`` (paper layout) and ``<stem>.json``; return paths."""
    os.makedirs(out_dir, exist_ok=True)
    csv_path = osp.join(out_dir, stem + '.csv')
    json_path = osp.join(out_dir, stem + '.json')

    def clean(v):
        return None if v is None or math.isnan(v) else v

    with atomic_write(csv_path, newline='') as f:
        writer = csv.writer(f)
        writer.writerow(list(per_class) + ['mAP'])
        writer.writerow([('' if clean(v) is None else f'{v:.4f}')
                         for v in list(per_class.values()) + [mean_ap]])
    with atomic_write(json_path) as f:
        json.dump(dict(classes=list(per_class),
                       AP={k: clean(v) for k, v in per_class.items()},
                       mAP=clean(mean_ap), unit='percent',
                       **(dict(known=known) if known else {})), f,
                  indent=2)
    return csv_path, json_path
