# AdamW with an iteration-based one-cycle learning rate. Its peak is the
# optimizer's lr and it ends at train_cfg.max_epochs (mlic's OneCycleLR), so
# a config changes only those two.
max_epochs = 20
optim_wrapper = dict(
    type='OptimWrapper',
    # fused: torch's one-kernel AdamW (docs/model_zoo.md "Speed")
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=1e-4, fused=True),
)
param_scheduler = [
    dict(
        type='OneCycleLR',  # peak: optim_wrapper.optimizer.lr
        pct_start=0.2,
        final_div_factor=1e3,
        by_epoch=True,
        begin=0,  # ends at train_cfg.max_epochs
        convert_to_iter_based=True,  # one-cycle over iterations
    )
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
# Evaluation runs a copy with BatchNorm folded into the convolutions (same
# values up to rounding, faster; fold_bn=False to evaluate the model as it
# is). DualValLoop without an EMA hook is mmengine's ValLoop + folding.
val_cfg = dict(type='DualValLoop')
test_cfg = dict(type='FoldedTestLoop')
# Base batch for --auto-scale-lr: the lr above is for 32 images per step.
auto_scale_lr = dict(base_batch_size=32, enable=False)
