# Ablation: decoder without self-attention = the main model.
_base_ = ['../coco_r101_448.py']
