# Paper: VOC 2012 test (evaluation server), TResNet-L, 448 px -> 96.7 mAP.
# Trains on VOC 2012 trainval for all 80 epochs (no early stop: the only
# labelled validation set, VOC 2012 val, is inside trainval); then
#   python tools/test.py configs/q2l_irpe/voc12_tresnetl_448.py \
#       work_dirs/voc12_tresnetl_448/epoch_80.pth --format-only --out-dir DIR
# To add VOC 2007 trainval to training: voc12_tresnetl_448_plus07.py.
_base_ = [
    '../_base_/models/q2l_irpe_tresnetl.py',
    '../_base_/datasets/voc12.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
model = dict(head=dict(num_classes=20))
default_hooks = dict(early_stopping=None)
# timm's TResNet weights were trained on [0, 1] RGB inputs with no mean/std
# (its pretrained_cfg: mean 0, std 1), i.e. 0-255 pixels divided by 255.
data_preprocessor = dict(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0])
