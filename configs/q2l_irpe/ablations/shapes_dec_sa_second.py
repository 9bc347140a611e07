# Decoder ablation: self-attention in the second layer only.
_base_ = ['../shapes_demo.py']
model = dict(head=dict(self_attn=[False, True]))
