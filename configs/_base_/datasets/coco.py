# MS-COCO 2014 as multi-label classification (see docs/datasets.md), with
# the paper's training augmentation (SPEC.md section 6): squash resize,
# Cutout, RandAugment. 448 px; coco_384.py / coco_576.py change the size.
# Layout: data/coco/{annotations/instances_{train,val}2014.json,
#                    train2014/, val2014/}
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
bgr_mean = [103.53, 116.28, 123.675]
meta_keys = ('sample_idx', 'img_id', 'img_path', 'ori_shape', 'img_shape')
train_pipeline = [
    dict(type='LoadImageChecked', on_bad_image='skip'),
    # Squash resize (the aspect ratio is not kept), as in the paper.
    dict(type='Resize', scale=(img_size, img_size)),
    # One rectangle of 1/16 to 1/4 of the image, filled with noise.
    dict(type='Cutout', area_range=(0.0625, 0.25), fill='noise', prob=1.0),
    # mmpretrain's RandAugment with timm's 'rand-m9-mstd0.5' settings.
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean],
                     interpolation='bicubic')),
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
    sampler=dict(type='DefaultSampler', shuffle=True),
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
