# The paper's model on TResNet-L (timm; unpooled 2432-channel map, stride
# 32), ImageNet-1k weights at 448 from the Hugging Face hub
# timm/tresnet_l.miil_in1k_448 (or $MLIC_PRETRAINED_DIR/
# tresnet_l.miil_in1k_448.safetensors, or --cfg-options
# model.backbone.init_cfg.checkpoint=/path/to/file).
_base_ = ['./q2l_irpe_r101.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='TIMMBackbone',
        model_name='tresnet_l',
        pretrained=False,  # loaded by init_cfg (clear errors, local files)
        init_cfg=dict(type='Pretrained',
                      checkpoint='timm/tresnet_l.miil_in1k_448')),
    neck=dict(in_channels=2432, feat_size=14))
