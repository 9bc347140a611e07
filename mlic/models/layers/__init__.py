"""The building blocks of mlic's models, in one place (as timm's
``layers``): iRPE buckets and tables, attention, FFN, encoder and decoder
layers. The IRPE neck and the label-query head compose them."""
from .attention import (IRPEAttention, MultiheadAttentionWithMaps,
                        irpe_attention, softmax_fp32)
from .ffn import feedforward
from .irpe import (ImageRPE, get_bucket_ids_2d, num_buckets_per_table,
                   piecewise_index)
from .transformer_layers import IRPEEncoderLayer, QueryDecoderLayer

__all__ = [
    'ImageRPE', 'get_bucket_ids_2d', 'num_buckets_per_table',
    'piecewise_index', 'irpe_attention', 'softmax_fp32', 'IRPEAttention',
    'MultiheadAttentionWithMaps', 'feedforward', 'IRPEEncoderLayer',
    'QueryDecoderLayer'
]
