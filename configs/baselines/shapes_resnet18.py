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
param_scheduler = [
    dict(
        type='OneCycleLR',
        eta_max=2e-3,
        pct_start=0.2,
        final_div_factor=1e3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
