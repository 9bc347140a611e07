# The built-in shapes dataset (generated on first use; see docs/datasets.md).
dataset_type = 'ShapesMultiLabel'
# Images are 128 px on disk; models train at 64 px by default so that a run
# takes minutes on a CPU. Configs that want more redefine the pipelines.
img_size = 64
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    num_classes=12,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True,
)

train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size), interpolation='area'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', meta_keys=('sample_idx', 'img_id', 'img_path',
                                       'ori_shape', 'img_shape')),
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size), interpolation='area'),
    dict(type='PackInputs', meta_keys=('sample_idx', 'img_id', 'img_path',
                                       'ori_shape', 'img_shape')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    # each sample augmented under its own seed: a resumed run sees what the
    # uninterrupted one would (mlic/datasets/sample_seeding.py)
    sampler=dict(type='SeededSampler', shuffle=True),
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, split='val', test_mode=True,
        pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='MLICMetric', thr=0.5)
test_evaluator = val_evaluator
