# The baseline on the built-in dataset, with the example backbone.
# Run from the repository root:
#   PYTHONPATH=docs/examples python tools/train.py docs/examples/shapes_my_backbone.py
_base_ = ['../../configs/baselines/shapes_resnet18.py']
custom_imports = dict(imports=['my_backbone'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='TinyConvNet', widths=(16, 32, 64)),
    head=dict(in_channels=64))
