# Decoder ablation: no self-attention (the paper's; same as shapes_demo).
_base_ = ['../shapes_demo.py']
model = dict(head=dict(self_attn=False))
