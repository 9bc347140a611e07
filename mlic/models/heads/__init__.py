from .query_decoder_head import QueryDecoderHead, QueryDecoderLayer

__all__ = ['QueryDecoderHead', 'QueryDecoderLayer']
