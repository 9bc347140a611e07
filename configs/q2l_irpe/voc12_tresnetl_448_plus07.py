# voc12_tresnetl_448.py trained on VOC 2012 trainval + VOC 2007 trainval
# (16,551 images); expects data/VOCdevkit/VOC2007 beside VOC2012.
_base_ = ['./voc12_tresnetl_448.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['year'],  # the two years differ in their metainfo
        datasets=[
            dict(type='VOCMultiLabel', data_root='data/VOCdevkit/VOC2012',
                 split='trainval', pipeline={{_base_.train_pipeline}}),
            dict(type='VOCMultiLabel', data_root='data/VOCdevkit/VOC2007',
                 split='trainval', pipeline={{_base_.train_pipeline}}),
        ]))
