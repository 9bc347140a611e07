# TResNet-L (timm, ImageNet-1k at 448, unpooled 2432-channel map), 448 px.
# Weights: Hugging Face hub timm/tresnet_l.miil_in1k_448 (or
# $MLIC_PRETRAINED_DIR/tresnet_l.miil_in1k_448.safetensors).
_base_ = [
    '../_base_/models/q2l_irpe_tresnetl.py',
    '../_base_/datasets/coco.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
# timm's TResNet weights were trained on [0, 1] RGB inputs with no mean/std
# (its pretrained_cfg: mean 0, std 1), i.e. 0-255 pixels divided by 255.
data_preprocessor = dict(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0])
