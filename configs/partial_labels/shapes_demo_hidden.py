# The demo (q2l_irpe/shapes_demo.py) trained on labels of which some are
# hidden, the validation split fully labelled (docs/partial_labels.md).
# What is hidden: train_dataloader.dataset (HideLabels: mode 'random',
# 'per_class' or 'single_positive', fraction, seed). What the loss does with
# a hidden (unknown) label: model.head.loss.mode (PartialLabelLoss: 'ignore',
# 'negative', 'selective', 'large_loss', 'epr'). For example:
#   python tools/train.py configs/partial_labels/shapes_demo_hidden.py \
#     --cfg-options model.head.loss.mode=negative
_base_ = ['../q2l_irpe/shapes_demo.py']
# 60 epochs, not the demo's 30: with half of the labels unknown a run is
# still learning when a 30-epoch one-cycle ends (docs/partial_labels.md,
# "What was wrong").
max_epochs = 60
train_cfg = dict(max_epochs=max_epochs)
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
            mode='selective',
            base={{_base_.apl}})))
