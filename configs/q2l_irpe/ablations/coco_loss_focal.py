# Ablation: focal loss (gamma 2, no alpha) (a setting of AsymmetricPolynomialLoss, docs/model.md).
_base_ = ['../coco_r101_448.py']
model = dict(head=dict(loss={{_base_.focal}}))  # configs/_base_/losses.py
