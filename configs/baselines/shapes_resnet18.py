# Baseline on the built-in dataset: ResNet-18 from scratch, GAP, linear head.
_base_ = [
    '../_base_/models/resnet18_multilabel.py',
    '../_base_/datasets/shapes.py',
    '../_base_/schedules/adamw_onecycle.py',
    '../_base_/default_runtime.py',
]
max_epochs = 16
optim_wrapper = dict(optimizer=dict(lr=2e-3))
train_cfg = dict(max_epochs=max_epochs)
