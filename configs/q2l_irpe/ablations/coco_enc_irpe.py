# Ablation (docs/model_zoo.md): IRPE encoder = the main ResNet-101 448 model.
_base_ = ['../coco_r101_448.py']
