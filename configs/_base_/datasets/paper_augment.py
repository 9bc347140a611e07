# The paper's training augmentation (docs/method.md section 7), in one place for
# every dataset config: after the squash resize, Cutout then RandAugment.
# Cutout: one rectangle of 1/16 to 1/4 of the image, filled with noise.
cutout = dict(type='Cutout', area_range=(0.0625, 0.25), fill='noise',
              prob=1.0)
# mmpretrain's RandAugment with timm's 'rand-m9-mstd0.5' settings; pad_val
# is the ImageNet mean in BGR.
rand_augment = dict(
    type='RandAugment',
    policies='timm_increasing',
    num_policies=2,
    total_level=10,
    magnitude_level=9,
    magnitude_std=0.5,
    hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic'))
