from .functional import (METRIC_NAMES, NonFiniteScoresError,
                         Known, NothingToScoreError, SparseLabels,
                         average_precision, check_finite_scores,
                         multilabel_metrics, nothing_to_score,
                         threshold_counts)
from .metrics import (PER_CLASS_PREFIX, MLICMetric, VOCSubmissionWriter,
                      format_per_class_table, write_voc_cls_results)
from .per_class import paper_table, save_per_class, split_per_class
from .predictions import (PredictionsFileError, load_predictions,
                          save_predictions, validate_predictions)
from .comparison import NotComparableError, compare, format_comparison
from .thresholds import (ThresholdError, calibrate_thresholds,
                         read_threshold_file, resolve_thresholds)

__all__ = [
    'METRIC_NAMES', 'NonFiniteScoresError', 'NothingToScoreError',
    'nothing_to_score', 'Known', 'SparseLabels',
    'average_precision',
    'check_finite_scores', 'multilabel_metrics',
    'threshold_counts', 'MLICMetric', 'PER_CLASS_PREFIX',
    'format_per_class_table', 'VOCSubmissionWriter', 'write_voc_cls_results',
    'paper_table', 'save_per_class', 'split_per_class', 'ThresholdError',
    'calibrate_thresholds', 'read_threshold_file', 'resolve_thresholds',
    'load_predictions', 'save_predictions', 'validate_predictions',
    'PredictionsFileError', 'compare', 'format_comparison',
    'NotComparableError'
]
