# Ablation: no encoder (1x1 conv + position embedding only).
_base_ = ['../coco_r101_448.py']
model = dict(neck=dict(num_layers=0))
