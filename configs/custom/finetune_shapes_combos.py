# Fine-tune a trained model on new classes: the Quick start's demo model
# (12 shape classes) -> the built-in data's 'combos' labels (216 classes:
# shape x hue x size). What is kept and what starts fresh
# (docs/custom_dataset.md "Fine-tune on your classes"):
#   backbone, IRPE encoder, decoder layers  <- the checkpoint
#   label queries, per-class classifier      <- new (one per new class)
# partial_load loads every weight whose name and shape fit and logs the
# rest; without it a checkpoint that does not fit the model is an error.
#
#   python tools/train.py configs/q2l_irpe/shapes_demo.py --work-dir work_dirs/quickstart
#   python tools/train.py configs/custom/finetune_shapes_combos.py
_base_ = ['../q2l_irpe/shapes_demo.py']
num_classes = 216
load_from = 'work_dirs/quickstart/epoch_30.pth'  # or --cfg-options load_from=
partial_load = True

model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(variant='combos'))
val_dataloader = dict(dataset=dict(variant='combos'))
test_dataloader = val_dataloader

# A shorter schedule at a lower peak lr than training from scratch (2e-3,
# 30 epochs): the kept layers start from useful weights and the new
# queries learn fast. To freeze what is kept, uncomment one:
# model = dict(backbone=dict(frozen_stages=3))   # stem + its 3 ResNet stages
# optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
#     'backbone': dict(lr_mult=0.1), 'neck': dict(lr_mult=0.1)}))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
