# The loss settings of the paper's loss ablation, in one place: every one is
# a setting of AsymmetricPolynomialLoss (docs/model.md, docs/method.md
# section 4). Model configs use {{_base_.apl}}; an ablation swaps it:
#   model = dict(head=dict(loss={{_base_.asl}}))
# the paper's APL (gamma+ 0, gamma- 2, clip 0.05, the official polynomial)
apl = dict(type='AsymmetricPolynomialLoss', gamma_pos=0, gamma_neg=2, clip=0.05,
           alpha1=0.0, alpha2=1.75, beta1=1.0)
# ASL (gamma+ 0, gamma- 2, clip 0.05): APL with the ASL polynomial
asl = dict(type='AsymmetricPolynomialLoss', gamma_pos=0, gamma_neg=2, clip=0.05,
           alpha1=1.0, alpha2=0.5, beta1=1.0)
# focal loss, gamma 2, no alpha
focal = dict(type='AsymmetricPolynomialLoss', gamma_pos=2, gamma_neg=2,
             clip=0.0, alpha1=1.0, alpha2=0.5, beta1=1.0)
# binary cross-entropy: all gammas 0, no clip
bce = dict(type='AsymmetricPolynomialLoss', gamma_pos=0, gamma_neg=0, clip=0.0,
           alpha1=1.0, alpha2=0.5, beta1=1.0)
