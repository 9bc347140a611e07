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
        assert node.parent is getattr(pre, name), name
    with DefaultScope.overwrite_default_scope('mlic'):
        with MMENGINE_MODELS.switch_scope_and_registry('mlic') as models:
            assert models is reg.MODELS
            assert models.get('ResNet').__module__.startswith('mmpretrain')
            assert models.get('ImageClassifier') is not None
    assert reg.DATASETS.get('CocoMultiLabel').__module__ == 'mlic.datasets.coco'
    assert reg.METRICS.get('MLICMetric') is not None
    assert reg.PARAM_SCHEDULERS.get('OneCycleLR') is not None  # mmengine
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
        reg.DATASETS._module_dict.pop('VOC')
