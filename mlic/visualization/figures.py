"""Pictures of what a model learned and how it scores: attention overlays,
per-class AP bars, precision-recall curves, score histograms and label
co-occurrence heatmaps, each with the numbers behind it.

Figures are drawn with matplotlib's object API on an Agg canvas (no
pyplot, no global backend switch), so importing or using this module
changes nothing else in the process.
"""
import csv
import os.path as osp
import textwrap
from typing import Dict, Sequence

import cv2
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlic.fileio import atomic_write


def _figure(width: float, height: float, dpi: int = 100):
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

def upsample_map(attn: np.ndarray, height: int, width: int,
                 normalise: bool = True) -> np.ndarray:
    """A (h, w) map resized bilinearly to (height, width); scaled to [0, 1]
    unless ``normalise=False``."""
    up = cv2.resize(attn.astype(np.float32), (width, height),
                    interpolation=cv2.INTER_LINEAR)
    if not normalise:
        return up
    lo, hi = float(up.min()), float(up.max())
    return (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)


def attention_overlay(image_rgb: np.ndarray, attn: np.ndarray,
                      alpha: float = 0.55) -> np.ndarray:
    """One attention map over the image, as an RGB uint8 array of the
    image's size (the jet colours of :func:`attention_figure`, scaled to
    the map's own range): what the web demo shows per label."""
    h, w = image_rgb.shape[:2]
    up = upsample_map(attn, h, w)
    colour = cv2.applyColorMap((up * 255).astype(np.uint8),
                               cv2.COLORMAP_JET)[..., ::-1]
    out = (1 - alpha) * image_rgb.astype(np.float32) + alpha * colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def attention_figure(image_rgb: np.ndarray, maps: Sequence[np.ndarray],
                     labels: Sequence[dict], path: str,
                     layer_title: str = '', panel: float = 2.8,
                     alpha: float = 0.55) -> str:
    """The image and one overlay per label, in a row; saved as PNG.

    ``image_rgb`` is the original image (its aspect ratio is kept: each
    map, computed on the squashed network input, is stretched back over
    it). ``labels``: one dict per map with ``name``, ``score``,
    ``predicted`` (above its threshold) and ``truth`` (True / False /
    None when unknown). A map is shown as attention x cells (1 = uniform
    over the feature map) with its colour bar.
    """
    h, w = image_rgb.shape[:2]
    n = len(maps) + 1
    aspect = min(max(w / max(h, 1), 0.5), 2.0)
    fig = _figure(panel * aspect * n + 0.7 * len(maps), panel + 0.9)
    ax = fig.add_subplot(1, n, 1)
    ax.imshow(image_rgb)
    ax.set_title('image', fontsize=9)
    ax.axis('off')
    for k, (attn, info) in enumerate(zip(maps, labels), start=2):
        ax = fig.add_subplot(1, n, k)
        ax.imshow(image_rgb)
        cells = attn.size
        up = upsample_map(attn, h, w, normalise=False) * cells
        im = ax.imshow(up, cmap='jet', alpha=alpha, vmin=0.0,
                       vmax=max(float(up.max()), 1.0))
        mark = 'predicted' if info.get('predicted') else 'not predicted'
        truth = info.get('truth')
        truth_text = '' if truth is None else (
            ', in truth' if truth else ', not in truth')
        colour = '#1b7837' if info.get('predicted') == bool(truth) or \
            truth is None and info.get('predicted') else '#b2182b'
        ax.set_title(f'{info["name"]} {info["score"]:.2f}\n{mark}'
                     f'{truth_text}', fontsize=8, color=colour)
        ax.axis('off')
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=6)
        if k == n:
            bar.set_label('attention x cells (1 = uniform)', fontsize=6)
    if layer_title:
        fig.suptitle(layer_title, fontsize=9)
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
                  path: str, limit: int = 40) -> str:
    """Per-class AP (percent), sorted high to low, as horizontal bars (the
    class names readable), with the mAP line; the AP axis spans the data.
    More than ``limit`` classes: the best and the worst ``limit // 2``."""
    keep = ~np.isnan(ap)
    names = [c for c, k in zip(classes, keep) if k]
    values = ap[keep]
    order = list(np.argsort(-values, kind='stable'))
    cut = len(order) > limit
    if cut:
        order = order[:limit // 2] + order[-(limit // 2):]
    n = len(order)
    fig = _figure(6.5, max(3.0, 0.22 * n + 1.4))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(n)
    ax.barh(y, values[order], color='#4C72B0')
    ax.axvline(m_ap, color='#C44E52', linestyle='--',
               label=f'mAP {m_ap:.2f}')
    ax.set_yticks(y)
    ax.set_yticklabels([names[i] for i in order], fontsize=8)
    ax.invert_yaxis()
    for yy, v in zip(y, values[order]):
        ax.text(v, yy, f' {v:.1f}', va='center', fontsize=7)
    lo = max(0.0, float(np.floor((values.min() - 5) / 5) * 5)) \
        if values.size else 0.0
    ax.set_xlim(lo, 102)
    ax.set_xlabel('AP (%)')
    ax.legend(loc='lower right', fontsize=8)
    ax.set_title('Average precision per class' + (
        f' (best and worst {limit // 2} of {len(values)})' if cut else ''))
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


def histogram_figure(edges, pos_counts, neg_counts, path: str,
                     thresholds=None) -> str:
    """Scores of positive and negative labels; ``thresholds`` (one number,
    or one per class) are drawn: a line for one, the range and median of
    per-class ones."""
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
    if thresholds is not None:
        thr = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
        if thr.size == 1 or np.ptp(thr) == 0:
            ax.axvline(float(thr[0]), color='k', linestyle='--',
                       label=f'threshold {float(thr[0]):.2f}')
        else:
            ax.axvspan(float(thr.min()), float(thr.max()), color='0.5',
                       alpha=0.15, label=f'per-class thresholds '
                       f'{thr.min():.2f}-{thr.max():.2f}')
            ax.axvline(float(np.median(thr)), color='k', linestyle='--',
                       label=f'median threshold {np.median(thr):.2f}')
    ax.set_xlabel('score')
    ax.set_ylabel('fraction of entries')
    ax.legend(fontsize=8)
    ax.set_title('Scores of positive and negative labels')
    fig.tight_layout()
    return _save(fig, path)


# -- label statistics -----------------------------------------------------------

def heatmap_figure(matrices: Dict[str, np.ndarray], classes: Sequence[str],
                   path: str, title: str = 'P(column | row)',
                   annotate_up_to: int = 30) -> str:
    """C x C matrices side by side. The diagonal (always 1 for P(j | i)) is
    masked so that the colour scale shows the off-diagonal values; with at
    most ``annotate_up_to`` classes each cell shows its value."""
    n, c = len(matrices), len(classes)
    side = max(4.5, 0.32 * c + 2.5) if c <= annotate_up_to else \
        max(4.5, 0.14 * c + 2.5)
    fig = _figure(side * n, side)
    off = ~np.eye(c, dtype=bool)
    top = max([float(m[off].max()) for m in matrices.values()
               if m.size and off.any()] + [1e-6])
    for k, (name, mat) in enumerate(matrices.items(), start=1):
        ax = fig.add_subplot(1, n, k)
        shown = np.ma.masked_array(mat, mask=~off)
        cmap = matplotlib.colormaps['viridis'].with_extremes(bad='0.85')
        im = ax.imshow(shown, vmin=0.0, vmax=top, cmap=cmap)
        ax.set_xticks(np.arange(c))
        ax.set_yticks(np.arange(c))
        fontsize = 8 if c <= annotate_up_to else max(3, 9 - c // 15)
        ax.set_xticklabels(classes, rotation=90, fontsize=fontsize)
        ax.set_yticklabels(classes, fontsize=fontsize)
        if c <= annotate_up_to:
            for i in range(c):
                for j in range(c):
                    if i == j:
                        continue
                    v = mat[i, j]
                    ax.text(j, i, f'{v:.2f}'[1:] if 0 < v < 1 else
                            f'{v:.0f}', ha='center', va='center',
                            fontsize=6, color='w' if v < 0.6 * top else 'k')
        ax.set_title(f'{name}: {title} (diagonal masked)', fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)


def difference_figure(labels: Sequence[str], values, path: str,
                      xlabel: str, title: str = '') -> str:
    """Horizontal bars of signed differences (one row a label, in the
    given order from the top; green above 0, red below)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(labels)
    fig = _figure(6.0, max(2.5, 0.22 * n + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(n)[::-1]
    ax.barh(pos, values, color=np.where(values >= 0, '#1b7837', '#b2182b'))
    ax.set_yticks(pos)
    ax.set_yticklabels(labels, fontsize=7)
    ax.axvline(0.0, color='black', linewidth=0.8)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=9)
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


def curves_figure(curves: Dict[str, tuple], path: str, xlabel: str,
                  ylabel: str, title: str) -> str:
    """Lines ``name -> (x, y)`` on one axes (training curves); a name
    ending in ``' *'`` is drawn dashed."""
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for name, (x, y) in curves.items():
        ax.plot(x, y, '--' if name.endswith(' *') else '-', label=name,
                linewidth=1.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title('\n'.join(textwrap.wrap(title, 80)), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='best')
    fig.tight_layout()
    return _save(fig, path)


def training_curves_figure(runs: Dict[str, dict], path: str,
                           title: str = '') -> str:
    """Training loss, learning rate and validation mAP per epoch of one or
    more runs (:func:`mlic.visualization.run_logs.read_run`), one colour a
    run; with EMA, the raw weights' mAP solid and the EMA's dashed."""
    fig = _figure(13.0, 3.8)
    axes = [fig.add_subplot(1, 3, k) for k in (1, 2, 3)]
    colours = [f'C{k % 10}' for k in range(len(runs))]
    for colour, (name, run) in zip(colours, runs.items()):
        epochs = run['epochs']
        pairs = [(e, v) for e, v in zip(epochs, run['loss']) if v is not None]
        if pairs:
            axes[0].plot(*zip(*pairs), color=colour, label=name)
        pairs = [(e, v) for e, v in zip(epochs, run['lr']) if v is not None]
        if pairs:
            axes[1].plot(*zip(*pairs), color=colour, label=name)
        val = run['val']
        lines = ([('raw/mAP', '-', ' raw'), ('ema/mAP', '--', ' EMA')]
                 if 'ema/mAP' in val else [('mAP', '-', '')])
        for key, style, suffix in lines:
            points = sorted(val.get(key, {}).items())
            if points:
                axes[2].plot(*zip(*points), style, color=colour,
                             label=name + suffix)
    for ax, label in zip(axes, ('training loss (epoch mean)',
                                'learning rate (epoch end)',
                                'validation mAP (%)')):
        ax.set_xlabel('epoch')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc='best')
    if title:
        fig.suptitle(title, fontsize=9)
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
