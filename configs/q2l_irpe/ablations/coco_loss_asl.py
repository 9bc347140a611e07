# Ablation: ASL (gamma+ 0, gamma- 2, clip 0.05), a setting of APL (docs/model.md).
_base_ = ['../coco_r101_448.py']
model = dict(head=dict(loss={{_base_.asl}}))  # configs/_base_/losses.py
