# Swin-L (ImageNet-22k, fine-tuned on 1k at 384, window 12), 384 px.
# mmpretrain's SwinTransformer with timm's weights, converted on load:
# Hugging Face hub timm/swin_large_patch4_window12_384.ms_in22k_ft_in1k.
# 8 images per GPU (a 24 GB card does not hold 16 at 384): 6 x 8 = 48 per
# step, so the max lr is halved from the 96-image recipe (linear rule).
_base_ = [
    '../_base_/models/q2l_irpe_r101.py',
    '../_base_/datasets/coco_384.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        arch='large',
        img_size=384,
        window_size=12,
        pad_small_map=True,  # maps smaller than a window (small inputs)
        drop_path_rate=0.2,
        out_indices=(3, ),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='timm/swin_large_patch4_window12_384.ms_in22k_ft_in1k')),
    neck=dict(in_channels=1536, feat_size=12))
train_dataloader = dict(batch_size=8)
max_lr = 2.5e-5
optim_wrapper = dict(optimizer=dict(lr=max_lr))
auto_scale_lr = dict(base_batch_size=48)
