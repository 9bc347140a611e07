from .attention import (IRPEAttention, IRPEEncoderLayer, feedforward,
                        irpe_attention)
from .irpe import (ImageRPE, get_bucket_ids_2d, num_buckets_per_table,
                   piecewise_index)

__all__ = [
    'ImageRPE', 'get_bucket_ids_2d', 'num_buckets_per_table',
    'piecewise_index', 'irpe_attention', 'feedforward', 'IRPEAttention', 'IRPEEncoderLayer'
]
