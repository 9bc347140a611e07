# Paper: VOC 2007 test, TResNet-L, 448 px -> 96.2 mAP.
_base_ = [
    '../_base_/models/q2l_irpe_tresnetl.py',
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
model = dict(head=dict(num_classes=20))
# timm's TResNet weights were trained on [0, 1] RGB inputs with no mean/std
# (its pretrained_cfg: mean 0, std 1), i.e. 0-255 pixels divided by 255.
data_preprocessor = dict(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0])
