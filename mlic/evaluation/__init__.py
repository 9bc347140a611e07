from .functional import (METRIC_NAMES, average_precision, multilabel_metrics,
                         threshold_counts)
from .metrics import MLICMetric, format_per_class_table

__all__ = [
    'METRIC_NAMES', 'average_precision', 'multilabel_metrics',
    'threshold_counts', 'MLICMetric', 'format_per_class_table'
]
