# Ablation: self-attention among label queries in both decoder layers.
_base_ = ['../coco_r101_448.py']
model = dict(head=dict(self_attn=True))
