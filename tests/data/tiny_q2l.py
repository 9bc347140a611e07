# A tiny copy of the demo (IRPE encoder, decoder, dropout 0.1, APL) with the
# random training augmentation of the paper's recipe (flip, Cutout,
# RandAugment) and the shipped loader settings (2 persistent workers), for
# the resume and fault tests: 32 px, 16 train / 8 val images, 2 epochs.
_base_ = ['../../configs/q2l_irpe/shapes_demo.py']
img_size = 32
tiny_counts = dict(train=16, val=8)
model = dict(neck=dict(feat_size=2))
meta_keys = ('sample_idx', 'img_id', 'img_path')
train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='Cutout', area_range=(1 / 16, 1 / 4), fill='noise'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5),
    dict(type='PackInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    dataset=dict(image_size=img_size, num_images=tiny_counts,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(image_size=img_size, num_images=tiny_counts,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=1))
