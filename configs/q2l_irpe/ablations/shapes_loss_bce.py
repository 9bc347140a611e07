# Loss ablation: BCE (APL with all gammas 0, no clip, ASL polynomial).
_base_ = ['../shapes_demo.py']
model = dict(head=dict(loss={{_base_.bce}}))  # configs/_base_/losses.py
