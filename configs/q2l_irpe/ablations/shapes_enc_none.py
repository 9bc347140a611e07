# Encoder ablation: no encoder (the decoder reads the projected,
# position-embedded features).
_base_ = ['../shapes_demo.py']
model = dict(neck=dict(num_layers=0))
