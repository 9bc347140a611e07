from .multilabel import MLICMetric, format_per_class_table

__all__ = ['MLICMetric', 'format_per_class_table']
