# Paper: VOC 2007 test, ResNet-101 (ImageNet-1k), 448 px -> 95.3 mAP.
_base_ = [
    '../_base_/models/q2l_irpe_r101.py',
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
model = dict(head=dict(num_classes=20))
