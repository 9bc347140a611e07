# MS-COCO 2014 with one positive label per image (Cole et al., CVPR 2021:
# one random positive kept, every other label unknown; the val split fully
# labelled), the paper's R101 model at 448 px (docs/partial_labels.md).
# It differs from coco_r101_448_hide50.py in what is hidden and the mode.
# bash tools/dist_train.sh configs/partial_labels/coco_r101_448_single_positive.py 6
_base_ = ['./coco_r101_448_hide50.py']
train_dataloader = dict(dataset=dict(mode='single_positive', fraction=None))
# Large-loss rejection (Kim et al., CVPR 2022): unknowns are negatives,
# except the largest losses among them, a share growing 0.2 points per
# epoch (16% at epoch 80). Not measured on COCO here.
model = dict(
    head=dict(
        loss=dict(mode='large_loss', correction='reject',
                  rate_per_epoch=0.002)))
