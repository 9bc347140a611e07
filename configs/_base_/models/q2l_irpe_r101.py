# The paper's model (docs/method.md section 1) on ResNet-101 (ImageNet-1k,
# torchvision weights, as Query2Label): 2048-d features (stride 32) ->
# IRPE encoder (1 layer) -> label-query decoder without self-attention
# (2 layers) -> group-wise linear; APL loss. Sizes follow Query2Label's public
# recipe (hidden 2048, FFN 8192, 4 heads, dropout 0.1).
# The weights come from the URL below (or $MLIC_PRETRAINED_DIR/<file name>,
# or --cfg-options model.backbone.init_cfg.checkpoint=/path/to/file).
_base_ = ['../losses.py']
d_model = 2048
model = dict(
    type='MultiLabelClassifier',
    # NHWC layout for the CNN: the same values, faster convolutions
    # (docs/model_zoo.md "Speed"); False: the standard NCHW layout.
    channels_last=True,
    backbone=dict(
        type='ResNet',
        depth=101,
        out_indices=(3, ),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet101-63fe2227.pth')),
    neck=dict(
        type='IRPETransformerEncoder',
        in_channels=2048,
        embed_dims=d_model,
        num_heads=4,
        num_layers=1,
        feedforward_channels=4 * d_model,
        dropout=0.1,
        feat_size=14,  # 448 px / 32
        rpe=dict(method='product', mode='contextual', ratio=1.9,
                 shared_head=True, on='qkv')),
    head=dict(
        type='QueryDecoderHead',
        num_classes=80,
        in_channels=d_model,
        num_layers=2,
        num_heads=4,
        feedforward_channels=4 * d_model,
        dropout=0.1,
        self_attn=False,
        loss={{_base_.apl}}),
)
