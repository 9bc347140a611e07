# Runtime of the paper's recipe: EMA of the weights (decay 0.9997, BatchNorm
# statistics included) with both models validated each epoch and the best
# checkpoint taken across both; early stop after 8 epochs without a better
# mAP (Query2Label's). Both are named default hooks, so a config or the
# command line changes them by name:
#   --cfg-options default_hooks.early_stopping=None            (all epochs)
#   --cfg-options default_hooks.early_stopping.patience=20
#   --cfg-options default_hooks.ema.decay=0.999
_base_ = ['./default_runtime.py']
default_hooks = dict(
    ema=dict(type='DualEMAHook', decay=0.9997, update_buffers=True),
    early_stopping=dict(type='EarlyStoppingHook', monitor='mAP',
                        rule='greater', patience=8),
)
