# A tiny copy of the baseline for tool tests: 32 px images, a narrow ResNet,
# 32 train / 13 val images (13 is odd: distributed padding must not count).
_base_ = ['../../configs/baselines/shapes_resnet18.py']
img_size = 32
tiny_counts = dict(train=32, val=13)
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(in_channels=64))
train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs', meta_keys=('sample_idx', 'img_id', 'img_path')),
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=8, num_workers=0,
    dataset=dict(image_size=img_size, num_images=tiny_counts,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(image_size=img_size, num_images=tiny_counts,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 3
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))  # the one-cycle peak
default_hooks = dict(logger=dict(interval=1))
