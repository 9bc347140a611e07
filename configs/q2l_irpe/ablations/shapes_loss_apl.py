# Loss ablation: APL (the paper's; same as shapes_demo).
_base_ = ['../shapes_demo.py']
model = dict(head=dict(loss={{_base_.apl}}))  # configs/_base_/losses.py
