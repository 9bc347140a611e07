from .asymmetric_polynomial_loss import (AsymmetricPolynomialLoss,
                                         asymmetric_polynomial_loss)

__all__ = ['AsymmetricPolynomialLoss', 'asymmetric_polynomial_loss']
