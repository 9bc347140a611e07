# MS-COCO 2014 as multi-label classification (see docs/datasets.md), with
# the paper's training augmentation (docs/method.md section 7): squash resize,
# Cutout, RandAugment. 448 px; coco_384.py / coco_576.py change the size.
# Layout: data/coco/{annotations/instances_{train,val}2014.json,
#                    train2014/, val2014/}
_base_ = ['./paper_augment.py']
dataset_type = 'CocoMultiLabel'
data_root = 'data/coco/'
img_size = 448
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    num_classes=80,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True,
)
meta_keys = ('sample_idx', 'img_id', 'img_path', 'ori_shape', 'img_shape')
train_pipeline = [
    dict(type='LoadImageChecked', on_bad_image='skip'),
    # Squash resize (the aspect ratio is not kept), as in the paper.
    dict(type='Resize', scale=(img_size, img_size)),
    {{_base_.cutout}},
    {{_base_.rand_augment}},
    dict(type='PackInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=16,  # per GPU: 6 GPUs x 16 = 96 images per step
    num_workers=8,
    persistent_workers=True,
    # each sample augmented under its own seed: a resumed run sees what the
    # uninterrupted one would (mlic/datasets/sample_seeding.py)
    sampler=dict(type='SeededSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2014.json',
        data_prefix='train2014',
        pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2014.json',
        data_prefix='val2014',
        test_mode=True,
        pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='MLICMetric', thr=0.5)
test_evaluator = val_evaluator
