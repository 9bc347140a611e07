# Decoder ablation: self-attention among label queries in both layers.
_base_ = ['../shapes_demo.py']
model = dict(head=dict(self_attn=True))
