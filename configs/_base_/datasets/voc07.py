# PASCAL VOC 2007: trainval (5,011 images) -> test (4,952), 20 classes,
# 448 px, the paper's augmentation. Difficult-only classes are ignored
# labels (VOCMultiLabel; PackInputs carries them to the loss and metric).
# Layout: data/VOCdevkit/VOC2007/{Annotations,ImageSets/Main,JPEGImages}
_base_ = ['./paper_augment.py']
dataset_type = 'VOCMultiLabel'
data_root = 'data/VOCdevkit/VOC2007'
img_size = 448
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    num_classes=20,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True,
)
meta_keys = ('sample_idx', 'img_id', 'img_path', 'ori_shape', 'img_shape')
pack = dict(type='PackInputs', algorithm_keys=('gt_label_difficult', ),
            meta_keys=meta_keys)
train_pipeline = [
    dict(type='LoadImageChecked', on_bad_image='skip'),
    dict(type='Resize', scale=(img_size, img_size)),
    {{_base_.cutout}},
    {{_base_.rand_augment}},
    pack,
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size)),
    pack,
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
        split='trainval',
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
        split='test',
        test_mode=True,
        pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='MLICMetric', thr=0.5)
# tools/test.py prints the per-class table (paper's Table II layout).
test_evaluator = dict(type='MLICMetric', thr=0.5, classwise=True)
