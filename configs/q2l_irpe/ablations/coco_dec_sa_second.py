# Ablation: self-attention in the second decoder layer only.
_base_ = ['../coco_r101_448.py']
model = dict(head=dict(self_attn=[False, True]))
