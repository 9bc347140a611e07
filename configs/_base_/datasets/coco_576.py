# MS-COCO 2014 at 576 px (pipelines restated: mmengine evaluates a base file
# on its own, so changing img_size alone would not reach them).
_base_ = ['./coco.py']
img_size = 576
train_pipeline = [
    dict(type='LoadImageChecked', on_bad_image='skip'),
    dict(type='Resize', scale=(img_size, img_size)),
    {{_base_.cutout}},
    {{_base_.rand_augment}},
    dict(type='PackInputs', meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
