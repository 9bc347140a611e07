from .attention import (IRPEAttention, IRPEEncoderLayer, feedforward,
                        irpe_attention)
from .checkpoint_converters import CONVERTERS, convert_state_dict
from .irpe import (ImageRPE, get_bucket_ids_2d, num_buckets_per_table,
                   piecewise_index)
from .pretrained import (PretrainedWeights, PretrainedWeightsError,
                         load_pretrained, resolve_checkpoint)

__all__ = [
    'ImageRPE', 'get_bucket_ids_2d', 'num_buckets_per_table',
    'piecewise_index', 'irpe_attention', 'feedforward', 'IRPEAttention', 'IRPEEncoderLayer',
    'CONVERTERS', 'convert_state_dict', 'PretrainedWeights',
    'PretrainedWeightsError', 'load_pretrained', 'resolve_checkpoint'
]
