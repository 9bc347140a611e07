# Ablation (SPEC.md section 7): IRPE encoder = the main ResNet-101 448 model.
_base_ = ['../coco_r101_448.py']
