# A small Query2Label-style model with the paper's three changes, sized for
# the built-in dataset on a CPU: ResNet-18 (3 stages, stride 16) from
# scratch -> IRPE encoder (1 layer) -> label-query decoder without
# self-attention (2 layers) -> group-wise linear; APL loss.
_base_ = ['../losses.py']
d_model = 128
model = dict(
    type='MultiLabelClassifier',
    channels_last=True,  # NHWC for the CNN (docs/model_zoo.md "Speed")
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=3,
        out_indices=(2, ),
        strides=(1, 2, 2),
        dilations=(1, 1, 1)),
    neck=dict(
        type='IRPETransformerEncoder',
        in_channels=256,
        embed_dims=d_model,
        num_heads=4,
        num_layers=1,
        feedforward_channels=2 * d_model,
        dropout=0.1,
        feat_size=4,  # 64 px input / stride 16
        rpe=dict(method='product', mode='contextual', ratio=1.9,
                 shared_head=True, on='qkv')),
    head=dict(
        type='QueryDecoderHead',
        num_classes=12,
        in_channels=d_model,
        num_layers=2,
        num_heads=4,
        feedforward_channels=2 * d_model,
        dropout=0.1,
        self_attn=False,
        loss={{_base_.apl}}),
)
