# Paper, Table I: ConvNeXt V2-Base (FCMAE, ImageNet-22k fine-tuned, 384),
# 384 px -> 91.1 mAP. mmpretrain's ConvNeXt with GRN, spatial output
# (final LayerNorm on the map, before any pooling); timm's weights, converted
# on load: Hugging Face hub timm/convnextv2_base.fcmae_ft_in22k_in1k_384 (or
# $MLIC_PRETRAINED_DIR/convnextv2_base.fcmae_ft_in22k_in1k_384.safetensors).
# bash tools/dist_train.sh configs/q2l_irpe/coco_convnextv2.py 6
_base_ = [
    '../_base_/models/q2l_irpe_r101.py',
    '../_base_/datasets/coco_384.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXt',
        arch='base',
        use_grn=True,
        layer_scale_init_value=0.,
        drop_path_rate=0.1,  # not printed in the paper; ConvNeXt V2's FT value
        out_indices=(3, ),
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='timm/convnextv2_base.fcmae_ft_in22k_in1k_384')),
    neck=dict(in_channels=1024, feat_size=12))  # 384 / 32
