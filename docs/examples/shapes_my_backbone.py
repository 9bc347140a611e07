# The baseline on the built-in dataset, with the example backbone. A config
# of your own inherits the installed mlic's configs with 'mlic::' and
# imports modules that sit beside it - no PYTHONPATH, no repository path:
#   python tools/train.py docs/examples/shapes_my_backbone.py
_base_ = ['mlic::baselines/shapes_resnet18.py']
custom_imports = dict(imports=['my_backbone'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='TinyConvNet', widths=(16, 32, 64)),
    head=dict(in_channels=64))
