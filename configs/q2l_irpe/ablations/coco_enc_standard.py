# Ablation: standard Transformer encoder (no relative position encoding).
_base_ = ['../coco_r101_448.py']
model = dict(neck=dict(rpe=None))
