# Encoder ablation: standard encoder (no relative position encoding).
_base_ = ['../shapes_demo.py']
model = dict(neck=dict(rpe=None))
