# The demo (q2l_irpe/shapes_demo.py) trained on labels of which some are
# hidden, the validation split fully labelled (docs/partial_labels.md).
# What is hidden: train_dataloader.dataset (HideLabels: mode 'random',
# 'per_class' or 'single_positive', fraction, seed). What the loss does with
# a hidden (unknown) label: model.head.loss.mode (PartialLabelLoss: 'ignore',
# 'negative', 'selective', 'large_loss', 'epr'). For example:
#   python tools/train.py configs/partial_labels/shapes_demo_hidden.py \
#     --cfg-options model.head.loss.mode=negative
_base_ = ['../q2l_irpe/shapes_demo.py']
# The demo's 30 epochs with half its peak lr: at the demo's 2e-3 a run with
# half of its labels unknown collapses when the one-cycle reaches its peak
# (docs/partial_labels.md, "What was wrong").
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HideLabels',
        mode='random',  # a random half of each image's labels
        fraction=0.5,
        seed=0,
        dataset=dict(type='ShapesMultiLabel', split='train',
                     pipeline={{_base_.train_pipeline}})))
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='PartialLabelLoss',
            # the best of the modes measured on this data with half of the
            # labels hidden (docs/partial_labels.md, "Measured")
            mode='ignore',
            base={{_base_.apl}})))
