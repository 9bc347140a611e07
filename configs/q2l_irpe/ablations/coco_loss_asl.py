# Ablation: ASL (gamma+ 0, gamma- 2, clip 0.05), a setting of APL (docs/model.md).
_base_ = ['../coco_r101_448.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='AsymmetricPolynomialLoss',
            gamma_pos=0, gamma_neg=2, clip=0.05, alpha1=1.0, alpha2=0.5, beta1=1.0)))
