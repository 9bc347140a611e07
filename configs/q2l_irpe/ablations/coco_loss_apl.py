# Ablation: APL = the main model's loss.
_base_ = ['../coco_r101_448.py']
