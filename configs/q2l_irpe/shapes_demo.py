# The paper's model in miniature on the built-in dataset (README Quick start).
_base_ = [
    '../_base_/models/q2l_irpe_demo.py',
    '../_base_/datasets/shapes.py',
    '../_base_/schedules/adamw_onecycle.py',
    '../_base_/default_runtime.py',
]
max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=1e-4))
