"""mlic's registries: one child of each of mmpretrain's registries.

Each node lists mmpretrain's package *and* ours in ``locations``: mmengine
only imports the locations of the registry a build starts from, so with
``default_scope = 'mlic'`` every mmengine, mmpretrain and mlic component
resolves by its bare name, and an mlic component wins on a name clash.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'BATCH_AUGMENTS', 'TASK_UTILS',
    'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS',
    'WEIGHT_CONVERTERS'
]


def _child(name, mmpretrain_pkg, mlic_pkg):
    parent = getattr(mmpretrain_registry, name)
    return Registry(
        parent.name,
        parent=parent,
        scope='mlic',
        locations=[mmpretrain_pkg, mlic_pkg])


_ENGINE = ('mmpretrain.engine', 'mlic.engine')
_DATA = ('mmpretrain.datasets', 'mlic.datasets')
_MODEL = ('mmpretrain.models', 'mlic.models')
_EVAL = ('mmpretrain.evaluation', 'mlic.evaluation')
_VIS = ('mmpretrain.visualization', 'mlic.engine')

RUNNERS = _child('RUNNERS', *_ENGINE)
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS', *_ENGINE)
LOOPS = _child('LOOPS', *_ENGINE)
HOOKS = _child('HOOKS', *_ENGINE)
LOG_PROCESSORS = _child('LOG_PROCESSORS', *_ENGINE)
OPTIMIZERS = _child('OPTIMIZERS', *_ENGINE)
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', *_ENGINE)
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS', *_ENGINE)
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS', *_ENGINE)
DATASETS = _child('DATASETS', *_DATA)
DATA_SAMPLERS = _child('DATA_SAMPLERS', *_DATA)
TRANSFORMS = _child('TRANSFORMS', *_DATA)
MODELS = _child('MODELS', *_MODEL)
MODEL_WRAPPERS = _child('MODEL_WRAPPERS', 'mmpretrain.models', 'mlic.engine')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS', *_MODEL)
BATCH_AUGMENTS = _child('BATCH_AUGMENTS', *_MODEL)
TASK_UTILS = _child('TASK_UTILS', *_MODEL)
METRICS = _child('METRICS', *_EVAL)
EVALUATORS = _child('EVALUATORS', *_EVAL)
VISUALIZERS = _child('VISUALIZERS', *_VIS)
VISBACKENDS = _child('VISBACKENDS', *_VIS)

# mlic's own: functions (state_dict, module) -> state_dict that turn
# published backbone weights into the naming of the modules mlic builds
# (init_cfg=dict(type='Pretrained', format=<name>)).
WEIGHT_CONVERTERS = Registry('weight converter', scope='mlic',
                             locations=['mlic.models.pretrained'])

# Where mlic's components are registered (the registries' mlic locations):
# importing these fills every registry (mlic.utils.register_all_modules).
COMPONENT_PACKAGES = ('mlic.datasets', 'mlic.engine', 'mlic.evaluation',
                      'mlic.models')
