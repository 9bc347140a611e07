from .asymmetric_polynomial_loss import (AsymmetricPolynomialLoss,
                                         asymmetric_polynomial_loss)
from .partial_label_loss import MODES as PARTIAL_LABEL_MODES
from .partial_label_loss import PartialLabelLoss

__all__ = [
    'AsymmetricPolynomialLoss', 'asymmetric_polynomial_loss',
    'PartialLabelLoss', 'PARTIAL_LABEL_MODES'
]
