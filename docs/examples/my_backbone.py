"""Example of a user component (docs/new_components.md): a tiny CNN backbone.

Registered in mlic's MODELS registry; a config loads this module with
``custom_imports = dict(imports=['my_backbone'])`` (the folder must be on
PYTHONPATH) and then names it by ``type='TinyConvNet'``.
"""
import torch.nn as nn
from mmengine.model import BaseModule

from mlic.registry import MODELS


@MODELS.register_module()
class TinyConvNet(BaseModule):
    """Conv-BN-ReLU stages, each halving the resolution.

    Args:
        widths (tuple[int]): output channels of each stage.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, widths=(16, 32, 64), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        layers, in_ch = [], 3
        for w in widths:
            layers += [
                nn.Conv2d(in_ch, w, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True)
            ]
            in_ch = w
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        # mmpretrain necks and heads take a tuple of feature maps.
        return (self.body(x), )
