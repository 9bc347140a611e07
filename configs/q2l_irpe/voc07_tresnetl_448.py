# Paper: VOC 2007 test, TResNet-L, 448 px -> 96.2 mAP.
_base_ = [
    '../_base_/models/q2l_irpe_tresnetl.py',
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
model = dict(head=dict(num_classes=20))
