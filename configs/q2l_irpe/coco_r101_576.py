# Paper, Table I: ResNet-101 (ImageNet-1k), 576 px -> 86.8 mAP.
_base_ = [
    '../_base_/models/q2l_irpe_r101.py',
    '../_base_/datasets/coco_576.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
model = dict(neck=dict(feat_size=18))  # 576 / 32
