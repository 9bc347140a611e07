# The paper's schedule (docs/method.md section 7): 80 epochs, AdamW (0.9, 0.9999),
# weight decay 5e-3, one-cycle learning rate over iterations with max lr
# 5e-5 (pct_start 0.2: Query2Label's), for 96 images per step (6 GPUs x 16).
# Mixed precision (fp16, dynamic loss scale; bf16: optim_wrapper.dtype=
# 'bfloat16'; on a CPU-only machine: bf16 autocast). Gradient clipping:
# --cfg-options optim_wrapper.clip_grad.max_norm=10 (off by default).
# One source of truth: the peak of the one-cycle schedule is the optimizer's
# lr (mlic's OneCycleLR; --auto-scale-lr scales it), and the cycle ends at
# train_cfg.max_epochs (no `end`), so overriding either acts.
max_epochs = 80
max_lr = 5e-5
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    clip_grad=None,
    # fused: torch's one-kernel AdamW, the same update as the per-tensor one
    # and several times faster (docs/model_zoo.md "Speed"); fused=False on a
    # device torch has no fused AdamW for.
    optimizer=dict(type='AdamW', lr=max_lr, betas=(0.9, 0.9999),
                   weight_decay=5e-3, fused=True),
)
param_scheduler = [
    dict(
        type='OneCycleLR',  # peak: optim_wrapper.optimizer.lr
        pct_start=0.2,
        div_factor=25,  # starts at max_lr / 25
        final_div_factor=1e4,  # ends at max_lr / 25 / 1e4
        anneal_strategy='cos',
        by_epoch=True,
        begin=0,  # ends at train_cfg.max_epochs
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
# Validates the raw and the EMA weights each epoch (DualEMAHook below), in
# the training's mixed precision (fp16 autocast; bf16 on a CPU), as the
# official Query2Label validates under --amp. tools/test.py evaluates in
# float32 (--amp for mixed precision); docs/model_zoo.md "Speed". Both
# evaluate a copy with BatchNorm folded into the convolutions (fold_bn,
# default True: same values up to rounding, faster).
val_cfg = dict(type='DualValLoop', select_by='mAP', fp16=True)
test_cfg = dict(type='FoldedTestLoop')
# --auto-scale-lr scales max lr by (total batch) / 96.
auto_scale_lr = dict(base_batch_size=96, enable=False)
