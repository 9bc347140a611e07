"""Rules of a data sample that both the data side and the model side read
(the metric and the loss), kept apart from either."""
from .label_states import (IGNORE_KEYS, IGNORED, NEGATIVE, NEGATIVE_KEY,
                           POSITIVE, STATE_KEYS, UNKNOWN, UNKNOWN_KEY,
                           has_unknowns, ignored_classes, label_states,
                           has_states, set_states, unscored_classes)

__all__ = [
    'IGNORE_KEYS', 'IGNORED', 'NEGATIVE', 'NEGATIVE_KEY', 'POSITIVE',
    'STATE_KEYS', 'UNKNOWN', 'UNKNOWN_KEY', 'has_unknowns', 'ignored_classes',
    'has_states', 'label_states', 'set_states', 'unscored_classes'
]
