"""Checks of a config that mmengine itself does not make."""
import difflib
import os.path as osp
import sys

from mmengine.config import Config

# Top-level keys mmengine's Runner and mlic's tools read.
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'custom_imports', 'model_wrapper_cfg', 'find_unused_parameters',
    'runner_type', 'vis_backends', 'tta_model', 'tta_pipeline',
    'partial_load')
# Helper variables OpenMMLab configs commonly define at the top level.
HELPER_KEYS = ('train_pipeline', 'val_pipeline', 'test_pipeline',
               'dataset_type', 'data_root', 'img_size', 'max_epochs',
               'max_iters', 'meta_keys', 'num_classes', 'batch_size')


class ConfigKeyError(ValueError):
    """A config key that is almost certainly a typo."""


def check_config_keys(cfg):
    """Reject a top-level key that looks like a misspelled Runner key.

    Configs may define helper variables (``img_size``, ``train_pipeline``),
    so unknown keys are fine unless they are a near miss of a key the Runner
    reads, such as ``train_dataloder``: mmengine would silently ignore it.
    """
    for key in cfg.keys():
        if key in RUNNER_KEYS or key in HELPER_KEYS or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, RUNNER_KEYS, n=1, cutoff=0.85)
        if close:
            where = f' in {cfg.filename}' if cfg.filename else ''
            raise ConfigKeyError(
                f'unknown config key {key!r}{where}; did you mean '
                f'{close[0]!r}? (mmengine would ignore it)')


def check_num_classes(cfg):
    """The head and the data preprocessor must agree on the class count.

    ``data_preprocessor.num_classes`` sizes the one-hot targets, the head's
    ``num_classes`` the logits; when they differ the loss fails deep inside
    with a shape error. Both must be set to the dataset's number of classes.
    """
    model = cfg.get('model', None) or {}
    head = model.get('head', None) or {}
    pre = model.get('data_preprocessor', None) or cfg.get(
        'data_preprocessor', None) or {}
    head_n = head.get('num_classes', None)
    pre_n = pre.get('num_classes', None)
    if head_n is None or pre_n is None or head_n == pre_n:
        return
    where = f' ({cfg.filename})' if cfg.filename else ''
    raise ConfigKeyError(
        f'model.head.num_classes={head_n} but data_preprocessor.num_classes='
        f'{pre_n}{where}: both must be the number of classes of the dataset. '
        'Set both, e.g. --cfg-options model.head.num_classes=N '
        'data_preprocessor.num_classes=N.')


def _pipelines(cfg):
    """(config key, pipeline) of every dataloader's dataset (and the
    datasets a wrapper concatenates)."""
    out = []

    def visit(key, dataset):
        if not isinstance(dataset, dict):
            return
        if dataset.get('pipeline') is not None:
            out.append((f'{key}.pipeline', dataset['pipeline']))
        for k, sub in enumerate(dataset.get('datasets', None) or []):
            visit(f'{key}.datasets[{k}]', sub)
        if isinstance(dataset.get('dataset'), dict):
            visit(f'{key}.dataset', dataset['dataset'])

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if isinstance(cfg.get(loader, None), dict):
            visit(f'{loader}.dataset', cfg[loader].get('dataset'))
    return out


def check_sizes_and_schedule(cfg):
    """Values no run can use, named by their config key before anything is
    built: a non-positive resize ``scale`` / ``size`` in a pipeline (OpenCV
    would fail mid-run with an assertion), and ``train_cfg.max_epochs`` or
    ``max_iters`` below 1 (the scheduler would fail with a division)."""
    where = f' ({cfg.filename})' if cfg.filename else ''
    for key, pipeline in _pipelines(cfg):
        for k, step in enumerate(pipeline or []):
            if not isinstance(step, dict):
                continue
            for arg in ('scale', 'size', 'crop_size'):
                value = step.get(arg)
                if value is None:
                    continue
                values = value if isinstance(value, (list, tuple)) else \
                    [value]
                if any(isinstance(v, (int, float)) and v <= 0
                       for v in values):
                    raise ConfigKeyError(
                        f'{key}[{k}] ({step.get("type")}): {arg}={value!r}; '
                        f'image sizes must be positive pixels{where}')
    train_cfg = cfg.get('train_cfg', None) or {}
    for arg in ('max_epochs', 'max_iters'):
        value = train_cfg.get(arg, None)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigKeyError(
                f'train_cfg.{arg}={value!r}: train for at least 1 '
                f'({arg[4:]}){where}; to evaluate a checkpoint without '
                'training use tools/test.py')


# Values a run reads as numbers: (dotted key pattern, what it must be).
# '*' matches one level (a dataloader, a parameter group).
_NUMBERS = (
    ('optim_wrapper.optimizer.lr', 'number'),
    ('optim_wrapper.optimizer.weight_decay', 'number'),
    ('optim_wrapper.optimizer.momentum', 'number'),
    ('optim_wrapper.optimizer.eps', 'number'),
    ('optim_wrapper.clip_grad.max_norm', 'number'),
    ('auto_scale_lr.base_batch_size', 'int'),
    ('train_cfg.val_interval', 'int'),
    ('*_dataloader.batch_size', 'int'),
    ('*_dataloader.num_workers', 'int'),
    ('model.head.num_classes', 'int'),
    ('model.data_preprocessor.num_classes', 'int'),
)
# Keys known at a few places where mmengine passes every key on as a
# keyword argument (a misspelt one fails later with a bare TypeError).
_KNOWN = {
    'train_cfg': ('type', 'max_epochs', 'max_iters', 'val_interval',
                  'val_begin', 'dynamic_intervals', 'by_epoch'),
    '*_dataloader': ('batch_size', 'num_workers', 'persistent_workers',
                     'sampler', 'batch_sampler', 'dataset', 'collate_fn',
                     'pin_memory', 'drop_last', 'prefetch_factor',
                     'worker_init_fn', 'timeout', 'generator'),
    'optim_wrapper': ('type', 'optimizer', 'paramwise_cfg', 'clip_grad',
                      'accumulative_counts', 'loss_scale', 'dtype',
                      'constructor', 'use_fsdp'),
}


def _match(pattern: str, key: str) -> bool:
    parts, names = pattern.split('.'), key.split('.')
    return len(parts) == len(names) and all(
        p == n or (p.startswith('*') and n.endswith(p[1:]))
        for p, n in zip(parts, names))


def _lookup(cfg, key):
    node = cfg
    for name in key.split('.'):
        if not isinstance(node, dict) or name not in node:
            return False, None
        node = node[name]
    return True, node


def _plain(cfg) -> dict:
    """A Config as plain nested dicts (a dict stays as it is)."""
    return cfg.to_dict() if callable(getattr(cfg, 'to_dict', None)) else cfg


def _known_at(parent: str) -> list:
    """The keys mmengine reads under ``parent`` (empty: not known here)."""
    return [n for pattern, names in _KNOWN.items()
            if _match(pattern, parent) for n in names]


def _flat_keys(node, prefix=''):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flat_keys(v, f'{prefix}{k}.')
    if prefix:
        yield prefix[:-1]


def check_value_types(cfg):
    """Numbers given as text (``lr='1e-3'``, ``--cfg-options
    optim_wrapper.optimizer.lr=abc``) named by their key before anything is
    built (the optimizer would fail with ``'<=' not supported between
    'float' and 'str'``)."""
    where = f' ({cfg.filename})' if cfg.filename else ''
    plain = _plain(cfg)
    for key in _flat_keys(plain):
        for pattern, kind in _NUMBERS:
            if not _match(pattern, key):
                continue
            _, value = _lookup(plain, key)
            if value is None:
                continue
            ok = (isinstance(value, int) and not isinstance(value, bool)) \
                if kind == 'int' else (isinstance(value, (int, float))
                                       and not isinstance(value, bool))
            if not ok:
                example = '16' if kind == 'int' else '1e-3'
                raise ConfigKeyError(
                    f'{key}={value!r} is a {type(value).__name__}; expected '
                    f'{"a whole number" if kind == "int" else "a number"} '
                    f'(e.g. {key}={example}, without quotes){where}')


def check_known_keys(cfg):
    """A key of ``train_cfg``, a dataloader or ``optim_wrapper`` that is a
    near miss of a key mmengine reads there (``batch_szie``): named with
    the closest, before anything is built."""
    plain = _plain(cfg)
    where = f' ({cfg.filename})' if getattr(cfg, 'filename', None) else ''
    for parent, node in plain.items():
        if not isinstance(node, dict):
            continue
        known = _known_at(parent)
        for name in node if known else ():
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            if name not in known and close:
                raise ConfigKeyError(
                    f'{parent}.{name}: unknown key{where}; did you mean '
                    f'{parent}.{close[0]}?')


def check_cfg_options(cfg, options):
    """``--cfg-options`` keys of ``train_cfg``, a dataloader or
    ``optim_wrapper`` that are a near miss of a key mmengine reads there
    (``train_cfg.max_epoch=2``, ``train_dataloader.batch_szie=8``): refused
    naming the closest known key, before the merge (mmengine would add the
    misspelt key and fail later with a bare TypeError)."""
    plain = _plain(cfg)
    for key in options or {}:
        parent, _, name = key.rpartition('.')
        found, node = _lookup(plain, parent) if parent else (True, plain)
        if not found or not isinstance(node, dict) or name in node:
            continue
        # only where every key mmengine reads is known: elsewhere a new key
        # may be a constructor argument the config does not set
        # (default_hooks.checkpoint.save_last) - the builder names it
        known = _known_at(parent)
        if not known or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if close:
            raise ConfigKeyError(
                f'--cfg-options {key}: {parent or "the config"} has no key '
                f'{name!r}; did you mean {parent + "." if parent else ""}'
                f'{close[0]}?')


def pipeline_resize(pipeline):
    """(H, W) the first ``Resize`` of a pipeline config resizes to, or None.

    mmcv's ``scale`` is (W, H), or one int for a square.
    """
    for step in pipeline or []:
        if step.get('type') in ('Resize', 'mmpretrain.Resize'):
            scale = step.get('scale')
            if isinstance(scale, int):
                return scale, scale
            return int(scale[1]), int(scale[0])
    return None


def check_file_exists(path, what):
    """A clear error for a missing input file named on the command line."""
    if path is None:
        return
    if '://' in str(path):  # URLs are fetched by mmengine
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')


def load_config(config_path, cfg_options=None, work_dir=None):
    """The config a tool runs: file + ``--cfg-options`` + work dir.

    The work dir defaults to ``./work_dirs/<config name>`` unless the config
    or ``work_dir`` names one.

    A config may inherit the installed package's configs with
    ``_base_ = ['mlic::q2l_irpe/shapes_demo.py']`` (no path into the
    repository), and its ``custom_imports`` may name modules that sit beside
    it (its folder is searched while they are imported).
    """
    # mlic.upstream imports mmengine.runner, which must not load before
    # mlic's upstream import set-up (mlic/__init__.py imports this package)
    from mlic.upstream.private import package_config_paths
    check_file_exists(config_path, 'config file')
    folder = osp.dirname(osp.abspath(config_path))
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        with package_config_paths():
            cfg = Config.fromfile(config_path)
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    return cfg
