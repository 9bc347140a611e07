# AdamW with an iteration-based one-cycle learning rate.
# A config that changes max_epochs must restate param_scheduler's `end`
# (mmengine evaluates base files on their own).
max_epochs = 20
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=1e-4),
)
param_scheduler = [
    dict(
        type='OneCycleLR',
        eta_max=1e-3,
        pct_start=0.2,
        final_div_factor=1e3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,  # one-cycle over iterations
    )
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# Base batch for --auto-scale-lr: the lr above is for 32 images per step.
auto_scale_lr = dict(base_batch_size=32, enable=False)
