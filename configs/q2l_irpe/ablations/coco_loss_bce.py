# Ablation: binary cross-entropy (a setting of AsymmetricPolynomialLoss, docs/model.md).
_base_ = ['../coco_r101_448.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='AsymmetricPolynomialLoss',
            gamma_pos=0, gamma_neg=0, clip=0.0, alpha1=1.0, alpha2=0.5, beta1=1.0)))
