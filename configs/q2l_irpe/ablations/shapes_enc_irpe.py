# Encoder ablation: IRPE encoder (the paper's; same as shapes_demo).
_base_ = ['../shapes_demo.py']
