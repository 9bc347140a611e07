# Your own images and labels (a CSV file) with the paper's model and recipe:
# ResNet-101 (torchvision ImageNet weights) -> IRPE encoder -> label-query
# decoder, APL, Cutout + RandAugment, AdamW one-cycle, EMA, AMP, 448 px.
# Only the data and the class count change; see docs/custom_dataset.md.
#
# data/my_dataset/
#   images/...            the image files (any sub-folders)
#   train.csv, val.csv    header "image,labels[,ignored]", one row an image:
#                         photos/0001.jpg,cat dog
#   classes.txt           one class name a line (the order = class index)
_base_ = ['../q2l_irpe/coco_r101_448.py', '../_base_/datasets/csv.py']
num_classes = 3  # the number of lines in classes.txt
data_root = 'data/my_dataset/'
classes = 'classes.txt'  # relative to data_root (or a list of names)

model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)

# The paper's pipelines (from the COCO config), with the CSV's ignored
# labels packed (_base_/datasets/csv.py).
pack = {{_base_.csv_pack}}
train_pipeline = [
    dict(type='LoadImageChecked', on_bad_image='skip'),
    dict(type='Resize', scale=(448, 448)),
    {{_base_.cutout}},
    {{_base_.rand_augment}},
    pack,
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='Resize', scale=(448, 448)),
    pack,
]
train_dataloader = dict(
    dataset=dict(_delete_=True, type='CsvMultiLabel', data_root=data_root,
                 ann_file='train.csv', data_prefix='images', classes=classes,
                 pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='CsvMultiLabel', data_root=data_root,
                 ann_file='val.csv', data_prefix='images', classes=classes,
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
# The recipe's lr is for 96 images per step (6 GPUs x 16): on other
# hardware add --auto-scale-lr to scale it to your total batch.
