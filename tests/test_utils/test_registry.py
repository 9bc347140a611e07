from mmengine.registry import DefaultScope
from mmengine.registry import MODELS as MMENGINE_MODELS

import mlic.registry as reg
from mlic.utils import register_all_modules


def test_children_of_mmpretrain_and_bare_names_resolve():
    import mmpretrain.registry as pre
    register_all_modules(init_default_scope=False)
    for name in reg.__all__:
        node = getattr(reg, name)
        assert node.scope == 'mlic'
        if name == 'WEIGHT_CONVERTERS':  # mlic's own, no upstream parent
            assert node.parent is None
            assert node.get('timm_swin') is not None
            continue
        assert node.parent is getattr(pre, name), name
    with DefaultScope.overwrite_default_scope('mlic'):
        with MMENGINE_MODELS.switch_scope_and_registry('mlic') as models:
            assert models is reg.MODELS
            assert models.get('ResNet').__module__.startswith('mmpretrain')
            assert models.get('ImageClassifier') is not None
    assert reg.DATASETS.get('CocoMultiLabel').__module__ == 'mlic.datasets.coco'
    assert reg.METRICS.get('MLICMetric') is not None
    # mlic's OneCycleLR (peak = optimizer lr) wins over mmengine's
    assert reg.PARAM_SCHEDULERS.get('OneCycleLR').__module__ == \
        'mlic.engine.schedulers'
    assert reg.TRANSFORMS.get('PackInputs') is not None  # mmpretrain
    assert reg.HOOKS.get('EMAHook') is not None


def test_mlic_wins_on_a_name_clash():
    register_all_modules(init_default_scope=False)

    class VOC:  # same name as mmpretrain's VOC dataset
        pass

    reg.DATASETS.register_module(module=VOC)
    try:
        assert reg.DATASETS.get('VOC') is VOC
        assert reg.DATASETS.get('mmpretrain.VOC') is not VOC
    finally:
        reg.DATASETS.module_dict.pop('VOC')  # the public view of the dict
