# Loss ablation: ASL (gamma_pos 0, gamma_neg 2, clip 0.05).
_base_ = ['../shapes_demo.py']
model = dict(head=dict(loss={{_base_.asl}}))  # configs/_base_/losses.py
