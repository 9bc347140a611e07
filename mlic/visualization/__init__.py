"""Figures of results, attention and label statistics (matplotlib, Agg)."""
from .figures import (ap_bar_figure, attention_figure, attention_overlay,
                      bar_figure, cooccurrence, curves_figure,
                      difference_figure, heatmap_figure, histogram_figure,
                      interpolated_pr, pr_curve, pr_figure,
                      training_curves_figure, upsample_map, write_csv)

__all__ = [
    'attention_figure', 'attention_overlay', 'upsample_map', 'pr_curve',
    'interpolated_pr', 'ap_bar_figure', 'pr_figure', 'histogram_figure',
    'heatmap_figure', 'training_curves_figure', 'bar_figure',
    'difference_figure', 'cooccurrence', 'curves_figure', 'write_csv'
]
