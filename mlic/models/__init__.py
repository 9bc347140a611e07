"""mlic's models: necks (IRPE encoder), heads (label-query decoder), losses,
the layers they are built of (``layers``) and pretrained-weight loading
(``pretrained``).

mmpretrain's backbones and data preprocessor are used as they are, through
the registry; ``MultiLabelClassifier`` is mmpretrain's ``ImageClassifier``
with a channels-last option; ``fold_batchnorm`` makes the BatchNorm-folded
copy that evaluation runs.
"""
from . import layers, pretrained  # noqa: F401
from .averaged import MultiTensorEMA  # noqa: F401
from .batchnorm_folding import fold_batchnorm  # noqa: F401
from .classifier import MultiLabelClassifier  # noqa: F401
from .heads import QueryDecoderHead  # noqa: F401
from .losses import AsymmetricPolynomialLoss, PartialLabelLoss  # noqa: F401
from .necks import IRPETransformerEncoder  # noqa: F401
