"""Pretrained backbone weights: where they come from (:mod:`.loading`),
how published names become ours (:mod:`.converters`, a registry of
``(state_dict, module) -> state_dict``), and the input normalisation they
were trained with (:mod:`.input_norm`)."""
from .converters import convert_state_dict, detect_format, unfold_order
from .input_norm import (InputNormalisationError, check_input_normalisation,
                         expected_normalisation)
from .loading import (PretrainedWeights, PretrainedWeightsError,
                      load_pretrained, read_state_dict, resolve_checkpoint)

__all__ = [
    'convert_state_dict', 'detect_format', 'unfold_order',
    'InputNormalisationError', 'check_input_normalisation',
    'expected_normalisation', 'PretrainedWeights', 'PretrainedWeightsError',
    'load_pretrained', 'read_state_dict', 'resolve_checkpoint'
]
