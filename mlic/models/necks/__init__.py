from .irpe_encoder import PAPER_RPE, IRPETransformerEncoder

__all__ = ['IRPETransformerEncoder', 'PAPER_RPE']
