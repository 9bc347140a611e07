# PASCAL VOC 2012: train on trainval (11,540 images); test (10,991) labels
# are withheld - its results go to the evaluation server:
#   python tools/test.py CONFIG CKPT --format-only --out-dir DIR
# Validation uses VOC 2012 val, which is PART OF trainval: it only shows that
# training runs; it cannot select a model (see docs/datasets.md).
# Layout: data/VOCdevkit/VOC2012/{Annotations,ImageSets/Main,JPEGImages};
# the test images (VOC2012test.tar) unpack into the same folder tree.
_base_ = ['./voc07.py']
data_root = 'data/VOCdevkit/VOC2012'
train_dataloader = dict(dataset=dict(data_root=data_root, split='trainval'))
val_dataloader = dict(dataset=dict(data_root=data_root, split='val'))
test_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VOCMultiLabel',
        data_root=data_root,
        split='test',
        with_labels=False,
        pipeline={{_base_.test_pipeline}}))
test_evaluator = dict(type='VOCSubmissionWriter',
                      out_dir='work_dirs/voc2012_submission', comp=2)
