"""Pictures of what a model learned and how it scores: attention overlays,
per-class AP bars, precision-recall curves, score histograms and label
co-occurrence heatmaps, each with the numbers behind it.

Figures are drawn with matplotlib's object API on an Agg canvas (no
pyplot, no global backend switch), so importing or using this module
changes nothing else in the process.
"""
import csv
import os.path as osp
from typing import Dict, Sequence

import numpy as np

from mlic.fileio import atomic_write


def _figure(width: float, height: float, dpi: int = 100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str) -> str:
    with atomic_write(path, 'wb') as f:
        fig.savefig(f, format=osp.splitext(path)[1][1:] or 'png')
    return path


def write_csv(path: str, header: Sequence[str], rows) -> str:
    with atomic_write(path, newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# -- attention ---------------------------------------------------------------

def upsample_map(attn: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (h, w) map resized bilinearly to (height, width), scaled to [0, 1]."""
    import cv2
    up = cv2.resize(attn.astype(np.float32), (width, height),
                    interpolation=cv2.INTER_LINEAR)
    lo, hi = float(up.min()), float(up.max())
    return (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)


def attention_figure(image_rgb: np.ndarray, maps: Sequence[np.ndarray],
                     titles: Sequence[str], path: str,
                     panel: float = 2.6, alpha: float = 0.5) -> str:
    """The input and one overlay per label map, in a row; saved as PNG."""
    h, w = image_rgb.shape[:2]
    n = len(maps) + 1
    fig = _figure(panel * n, panel + 0.4)
    ax = fig.add_subplot(1, n, 1)
    ax.imshow(image_rgb)
    ax.set_title('input', fontsize=9)
    ax.axis('off')
    for k, (attn, title) in enumerate(zip(maps, titles), start=2):
        ax = fig.add_subplot(1, n, k)
        ax.imshow(image_rgb)
        ax.imshow(upsample_map(attn, h, w), cmap='jet', alpha=alpha,
                  vmin=0.0, vmax=1.0)
        ax.set_title(title, fontsize=9)
        ax.axis('off')
    fig.tight_layout()
    return _save(fig, path)


# -- results -----------------------------------------------------------------

def pr_curve(scores: np.ndarray, targets: np.ndarray):
    """(recall, precision) at every cut of one class's ranking, ignored
    entries (-1) left out; None when the class has no positive."""
    valid = targets >= 0
    s, y = scores[valid], targets[valid] == 1
    if not y.any():
        return None
    order = np.argsort(-s, kind='stable')
    y = y[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    recall = tp / y.sum()
    return recall, precision


def interpolated_pr(recall, precision, points: int = 101):
    """Precision at ``points`` recall levels (the best precision at recall
    >= r), the usual way to draw and tabulate a PR curve."""
    levels = np.linspace(0.0, 1.0, points)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, levels, side='left')
    out = np.zeros(points)
    ok = idx < len(recall)
    out[ok] = envelope[idx[ok]]
    return levels, out


def ap_bar_figure(classes: Sequence[str], ap: np.ndarray, m_ap: float,
                  path: str) -> str:
    """Per-class AP (percent), sorted high to low, with the mAP line."""
    keep = ~np.isnan(ap)
    names = [c for c, k in zip(classes, keep) if k]
    values = ap[keep]
    order = np.argsort(-values, kind='stable')
    n = len(order)
    fig = _figure(max(6.0, 0.22 * n + 1.5), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(n), values[order], color='#4C72B0')
    ax.axhline(m_ap, color='#C44E52', linestyle='--', label=f'mAP {m_ap:.2f}')
    ax.set_xticks(np.arange(n))
    ax.set_xticklabels([names[i] for i in order], rotation=90, fontsize=7)
    ax.set_ylabel('AP (%)')
    ax.set_ylim(0, 100)
    ax.legend(loc='lower left')
    ax.set_title('Average precision per class')
    fig.tight_layout()
    return _save(fig, path)


def pr_figure(curves: Dict[str, tuple], ap: Dict[str, float], path: str,
              highlight: int = 3) -> str:
    """All classes' PR curves in grey, the best and worst few in colour."""
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    for name, (r, p) in curves.items():
        ax.plot(r, p, color='0.8', linewidth=0.8)
    ranked = sorted(curves, key=lambda c: -ap[c])
    chosen = ranked[:highlight] + [c for c in ranked[-highlight:]
                                   if c not in ranked[:highlight]]
    for name in chosen:
        r, p = curves[name]
        ax.plot(r, p, linewidth=1.8, label=f'{name} (AP {ap[name]:.1f})')
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc='lower left')
    ax.set_title('Precision-recall (grey: all classes)')
    fig.tight_layout()
    return _save(fig, path)


def histogram_figure(edges, pos_counts, neg_counts, path: str) -> str:
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    centers = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    total_pos, total_neg = max(pos_counts.sum(), 1), max(neg_counts.sum(), 1)
    ax.bar(centers, neg_counts / total_neg, width=width, alpha=0.6,
           label=f'negatives ({int(neg_counts.sum())})', color='#C44E52')
    ax.bar(centers, pos_counts / total_pos, width=width, alpha=0.6,
           label=f'positives ({int(pos_counts.sum())})', color='#55A868')
    ax.set_yscale('log')
    ax.set_xlabel('score')
    ax.set_ylabel('fraction of entries')
    ax.legend()
    ax.set_title('Scores of positive and negative labels')
    fig.tight_layout()
    return _save(fig, path)


# -- label statistics -----------------------------------------------------------

def heatmap_figure(matrices: Dict[str, np.ndarray], classes: Sequence[str],
                   path: str, title: str = 'P(column | row)') -> str:
    """One or more C x C matrices side by side (values in [0, 1])."""
    n, c = len(matrices), len(classes)
    side = max(4.0, 0.18 * c + 2.0)
    fig = _figure(side * n, side)
    for k, (name, mat) in enumerate(matrices.items(), start=1):
        ax = fig.add_subplot(1, n, k)
        im = ax.imshow(mat, vmin=0.0, vmax=1.0, cmap='viridis')
        ax.set_xticks(np.arange(c))
        ax.set_yticks(np.arange(c))
        fontsize = 7 if c <= 30 else 4
        ax.set_xticklabels(classes, rotation=90, fontsize=fontsize)
        ax.set_yticklabels(classes, fontsize=fontsize)
        ax.set_title(f'{name}: {title}', fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)


def bar_figure(labels: Sequence[str], values, path: str, ylabel: str,
               title: str, rotate: bool = True) -> str:
    n = len(labels)
    fig = _figure(max(5.0, 0.22 * n + 1.5), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(n), values, color='#4C72B0')
    ax.set_xticks(np.arange(n))
    ax.set_xticklabels(labels, rotation=90 if rotate else 0, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def cooccurrence(labels: np.ndarray) -> tuple:
    """(counts C x C, conditional C x C) of a {0,1} (N, C) label matrix:
    counts[i, j] = images with both i and j; conditional[i, j] = P(j | i)
    (0 for a class that never occurs)."""
    labels = (np.asarray(labels) > 0).astype(np.int64)
    counts = labels.T @ labels
    diag = np.diag(counts).astype(np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        cond = np.where(diag[:, None] > 0, counts / diag[:, None], 0.0)
    return counts, cond


__all__ = [
    'attention_figure', 'upsample_map', 'pr_curve', 'interpolated_pr',
    'ap_bar_figure', 'pr_figure', 'histogram_figure', 'heatmap_figure',
    'bar_figure', 'cooccurrence', 'write_csv'
]
