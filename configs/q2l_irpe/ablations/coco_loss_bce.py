# Ablation: binary cross-entropy (a setting of AsymmetricPolynomialLoss, docs/model.md).
_base_ = ['../coco_r101_448.py']
model = dict(head=dict(loss={{_base_.bce}}))  # configs/_base_/losses.py
