from .multilabel import PER_CLASS_PREFIX, MLICMetric, format_per_class_table
from .voc_submission import VOCSubmissionWriter, write_voc_cls_results

__all__ = [
    'MLICMetric', 'PER_CLASS_PREFIX', 'format_per_class_table',
    'VOCSubmissionWriter', 'write_voc_cls_results'
]
