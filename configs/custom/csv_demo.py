# Your own images and labels (a CSV file) with the small model of the
# built-in demo: a ResNet-18 trained from scratch -> IRPE encoder ->
# label-query decoder, APL, at 64 px. The first thing to try on a CPU: a
# dataset of a few hundred images trains in a minute or two, with nothing
# to download. For accuracy, move to csv_r101_448.py (ImageNet weights,
# 448 px; docs/custom_dataset.md).
#
# data/my_dataset/
#   images/...            the image files (any sub-folders)
#   train.csv, val.csv    header "image,labels[,ignored]", one row an image:
#                         photos/0001.jpg,cat dog
#   classes.txt           one class name a line (the order = class index)
_base_ = ['../q2l_irpe/shapes_demo.py', '../_base_/datasets/csv.py']
num_classes = 3  # the number of lines in classes.txt
data_root = 'data/my_dataset/'
classes = 'classes.txt'  # relative to data_root (or a list of names)
img_size = 64

model = dict(
    neck=dict(feat_size=img_size // 16),  # the encoder's token grid
    head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)

pack = {{_base_.csv_pack}}
train_pipeline = [
    dict(type='LoadImageChecked', on_bad_image='skip'),
    dict(type='Resize', scale=(img_size, img_size), interpolation='area'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    pack,
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(img_size, img_size), interpolation='area'),
    pack,
]
# 2 loader workers: a laptop or a 2-core cloud machine; raise it on more
train_dataloader = dict(
    batch_size=16, num_workers=2, persistent_workers=True,
    dataset=dict(_delete_=True, type='CsvMultiLabel', data_root=data_root,
                 ann_file='train.csv', data_prefix='images', classes=classes,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    dataset=dict(_delete_=True, type='CsvMultiLabel', data_root=data_root,
                 ann_file='val.csv', data_prefix='images', classes=classes,
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
# the demo's lr is for 32 images a step; this config's batch is 16
optim_wrapper = dict(optimizer=dict(lr=1e-3))
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=10))
