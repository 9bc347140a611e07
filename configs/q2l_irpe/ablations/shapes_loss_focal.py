# Loss ablation: focal loss, gamma 2, no alpha.
_base_ = ['../shapes_demo.py']
model = dict(head=dict(loss={{_base_.focal}}))  # configs/_base_/losses.py
