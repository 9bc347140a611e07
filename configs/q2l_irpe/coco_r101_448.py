# Paper, Table I: ResNet-101 (ImageNet-1k), 448 px -> 85.2 mAP.
# bash tools/dist_train.sh configs/q2l_irpe/coco_r101_448.py 6
_base_ = [
    '../_base_/models/q2l_irpe_r101.py',
    '../_base_/datasets/coco.py',
    '../_base_/schedules/q2l_80e.py',
    '../_base_/q2l_runtime.py',
]
