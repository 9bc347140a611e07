# Runtime of the paper's recipe: EMA of the weights (decay 0.9997, BatchNorm
# statistics included) with both models validated each epoch and the best
# checkpoint taken across both; early stop after 8 epochs without a better
# mAP (Query2Label's). To train all epochs:
#   --cfg-options custom_hooks.2.patience=1000
_base_ = ['./default_runtime.py']
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='DualEMAHook', decay=0.9997, update_buffers=True),
    dict(type='EarlyStoppingHook', monitor='mAP', rule='greater',
         patience=8),
]
