"""mlic's models: necks (IRPE encoder), heads (label-query decoder), losses.

mmpretrain's backbones, ``ImageClassifier`` and data preprocessor are used
as they are, through the registry.
"""
from .heads import QueryDecoderHead  # noqa: F401
from .losses import AsymmetricPolynomialLoss  # noqa: F401
from .necks import IRPETransformerEncoder  # noqa: F401
