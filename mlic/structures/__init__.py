"""Rules of a data sample that both the data side and the model side read
(the metric and the loss), kept apart from either."""
from .ignored_labels import IGNORE_KEYS, ignored_classes

__all__ = ['IGNORE_KEYS', 'ignored_classes']
