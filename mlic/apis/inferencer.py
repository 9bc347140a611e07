"""Multi-label predictions for new images, with thresholds.

mmpretrain's ``ImageClassificationInferencer`` takes the arg-max (one label
an image); this returns every class's probability and the labels above
per-class thresholds, through the config's own test pipeline and data
preprocessor, so its scores are the scores ``tools/test.py`` computes for
the same images.

    from mlic.apis import MultiLabelInferencer
    infer = MultiLabelInferencer('configs/q2l_irpe/shapes_demo.py',
                                 'work_dirs/demo/best_mAP_epoch_21.pth',
                                 thresholds='thresholds.json')
    results = infer(['a.jpg', 'photos/'], batch_size=8)
    results[0]['pred_labels']   # ['circle', 'star'], highest score first

Inputs (:mod:`mlic.apis.inputs`): an image path, a folder (searched
recursively for image files), a ``PIL.Image``, a numpy array (H x W x 3
uint8, in the channel order given by ``channel_order``: ``'bgr'`` by
default, as ``cv2.imread`` returns it; ``'rgb'`` for PIL / imageio /
matplotlib arrays), or a list of these. Other arrays (float, uint16) are
refused with the conversion to make.

Unreadable files: ``on_error='raise'`` (the default of the Python API)
stops at the first one with an error naming it; ``on_error='skip'`` (what
``tools/infer.py`` uses) leaves it out and records ``(path, reason)`` in
``self.skipped``. ``workers=N`` decodes images in N worker processes
(a DataLoader over the inputs) while the model scores the previous batch.
"""
import copy
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from torch.utils.data import DataLoader, Dataset

from mlic.datasets import read_class_names
from mlic.datasets.class_order import class_order_mismatch
from mlic.engine.checkpoint import (check_state_dict_fits, read_checkpoint,
                                    state_dict_of)
from mlic.engine.policy import EvalPolicy, eval_autocast
from mlic.evaluation import check_finite_scores, resolve_thresholds
from mlic.models import batchnorm_folding
from mlic.registry import MODELS, TRANSFORMS
from mlic.utils import load_config, register_all_modules
from mlic.utils.child_processes import EndWithParent
from .inputs import (IMAGE_EXTENSIONS, ImageInputError, check_channel_order,
                     expand_inputs, list_images)


def test_pipelines(cfg) -> dict:
    """The config's test pipeline, built: ``path`` (from a file, its first
    step loads the image), ``array`` (from a decoded BGR array) and
    ``load`` (the loading step alone)."""
    steps = copy.deepcopy(list(cfg.test_dataloader.dataset.pipeline))
    if not steps or not str(steps[0].get('type', '')).startswith('Load'):
        raise ValueError('the test pipeline must start with an image '
                         'loading step (LoadImageChecked)')
    build = [TRANSFORMS.build(s) for s in steps]
    return dict(path=Compose(build), array=Compose(build[1:]),
                load=build[0])


def prepare_item(pipelines: dict, item, index: int = 0):
    """``(prepared, None)`` for an image path or BGR array through the test
    pipeline, or ``(None, the exception)`` when it cannot be read (to skip
    or raise where the results are gathered)."""
    try:
        if isinstance(item, np.ndarray):
            h, w = item.shape[:2]
            results = dict(img=item, img_shape=(h, w), ori_shape=(h, w),
                           sample_idx=index)
            return pipelines['array'](results), None
        results = dict(img_path=item, sample_idx=index)
        return pipelines['path'](results), None
    except Exception as err:  # unreadable, missing, ...
        return None, err


class _Prepared(Dataset):
    """The inputs through the test pipeline, one item at a time; a failure
    comes back as the exception (to skip or raise in the main process)."""

    def __init__(self, items, pipelines):
        self.items, self.pipelines = items, pipelines

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return (index, ) + prepare_item(self.pipelines, self.items[index],
                                        index)


def _as_list(batch):
    return batch


class MultiLabelInferencer:
    """Score images with a trained mlic model.

    Args:
        model (str | Config): a config file (or a loaded config).
        pretrained (str, optional): the checkpoint; it must fit the model
            (as for ``tools/test.py``). Without one the model has random
            weights (a warning says so).
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:1'``;
            default CUDA when available.
        thresholds (float | list | dict | str, optional): a class is in
            ``pred_labels`` when its score is ``>=`` its threshold: one
            number, one per class, ``{class: thr}``, or a JSON file from
            ``calibrate_thresholds.py``. Default: the config's test metric
            ``thr`` when it has one, else 0.5.
        classes (list, optional): class names; default the names stored in
            the checkpoint (the training set's), else the test dataset's.
        amp (bool): mixed precision - the forward under fp16 autocast on a
            GPU, bfloat16 autocast on a CPU (what ``tools/test.py --amp``
            and ``test_cfg.fp16`` run; on the demo the scores move by 6e-4
            on average, docs/model_zoo.md "Speed"). Default: the config's
            ``test_cfg.fp16``, else float32.
        fold_bn (bool): score with a copy of the model whose BatchNorm
            layers are folded into their convolutions (the same scores up
            to rounding, faster; made on the first batch and checked on
            its first image, as ``tools/test.py`` does). Default: the
            config's ``test_cfg`` (True for ``FoldedTestLoop``). The copy is
            made once: after changing ``self.model``'s weights, call
            :meth:`refold`.
        channel_order (str): the channel order of numpy array inputs,
            ``'bgr'`` (default; ``cv2.imread``) or ``'rgb'`` (PIL, imageio,
            matplotlib). Paths and PIL images need none.
    """

    def __init__(self, model, pretrained: Optional[str] = None,
                 device: Optional[str] = None, thresholds=None,
                 classes: Optional[Sequence[str]] = None,
                 amp: Optional[bool] = None,
                 fold_bn: Optional[bool] = None,
                 channel_order: str = 'bgr'):
        register_all_modules()
        cfg = model if isinstance(model, Config) else load_config(model)
        self.cfg = cfg
        model_cfg = copy.deepcopy(cfg.model)
        if cfg.get('data_preprocessor', None) is not None:
            model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
        # no pretrained backbone download: the checkpoint has the weights
        if model_cfg.get('backbone', {}).get('init_cfg', None) is not None:
            model_cfg['backbone'] = dict(model_cfg['backbone'],
                                         init_cfg=None)
        net = MODELS.build(model_cfg)
        meta = {}
        if pretrained is not None:
            checkpoint = read_checkpoint(pretrained)
            state_dict = state_dict_of(checkpoint)
            check_state_dict_fits(net, state_dict, pretrained)
            net.load_state_dict(state_dict)
            meta = checkpoint.get('meta', {}) if isinstance(checkpoint,
                                                            dict) else {}
        else:
            print_log('MultiLabelInferencer: no checkpoint given, the model '
                      'has random weights', logger='current',
                      level=30)
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.device = torch.device(device)
        self.model = net.to(self.device).eval()
        self.policy = EvalPolicy.from_config(
            cfg, self.device.type, amp=amp, fold_bn=fold_bn,
            logger_print=lambda m: print_log(m, logger='current'))
        self.amp, self.fold_bn = self.policy.amp, self.policy.fold_bn
        self._scoring_model = None
        self.num_classes = int(self.model.head.num_classes)
        self.classes = self._classes(classes, meta)
        self._pipelines = test_pipelines(self.cfg)
        if thresholds is None:
            thresholds = self._config_threshold()
        self.set_thresholds(thresholds)
        self.channel_order = check_channel_order(channel_order)
        self.skipped = []

    # -- set-up ----------------------------------------------------------
    def _classes(self, classes, meta):
        trained = (meta.get('dataset_meta') or {}).get('classes', None)
        if classes is not None and trained is not None and \
                [str(c) for c in classes] != [str(c) for c in trained]:
            raise ValueError(
                'MultiLabelInferencer: the classes given '
                f'{class_order_mismatch(trained, classes)}; the scores '
                "would be labelled with other classes' names. Leave "
                'classes=None: the checkpoint names its own classes.')
        if classes is None:
            classes = trained
        if classes is None:
            dataset = self.cfg.get('test_dataloader', {}).get('dataset', {})
            classes = (dataset.get('metainfo') or {}).get(
                'classes', None) or dataset.get('classes', None)
            if isinstance(classes, str):
                classes = read_class_names(classes, 'the test dataset')
        if classes is None:
            classes = [f'class_{i}' for i in range(self.num_classes)]
        classes = [str(c) for c in classes]
        if len(classes) != self.num_classes:
            raise ValueError(f'{len(classes)} class names for a model with '
                             f'{self.num_classes} classes')
        return classes

    def _config_threshold(self):
        evaluator = self.cfg.get('test_evaluator', None)
        metrics = evaluator if isinstance(evaluator, (list, tuple)) else \
            [evaluator]
        for metric in metrics:
            if isinstance(metric, dict) and metric.get('type') == \
                    'MLICMetric' and 'thr' in metric:
                return metric['thr']
        return 0.5

    def refold(self) -> None:
        """Drop the folded copy; the next batch folds ``self.model``
        again (needed after its weights change)."""
        self._scoring_model = None

    def _model_for(self, data_batch):
        """The model that scores: the folded copy (made on the first
        batch) with ``fold_bn``, else ``self.model``."""
        if not self.fold_bn:
            return self.model
        if self._scoring_model is None:
            self._scoring_model = batchnorm_folding.fold_batchnorm_for_batch(
                self.model, data_batch,
                lambda m: print_log(f'MultiLabelInferencer: {m}',
                                    logger='current'))[0]
        return self._scoring_model

    def _precision(self):
        """The forward's autocast (a no-op without ``amp``)."""
        return eval_autocast(self.device.type, self.amp)

    def set_thresholds(self, thresholds) -> None:
        thr = resolve_thresholds(thresholds, self.classes, self.num_classes)
        self.thresholds = np.broadcast_to(
            np.asarray(thr, dtype=np.float64), (self.num_classes, )).copy()

    # -- running ---------------------------------------------------------
    def _prepare(self, item):
        _, prepared, err = _Prepared([item], self._pipelines)[0]
        if err is not None:
            raise err
        return prepared

    def result(self, item, scores, topk: Optional[int] = None) -> dict:
        """One image's output (``img_path``, ``scores`` of every class,
        ``pred_labels``/``pred_scores``: above threshold, or the ``topk``
        best) from its score vector: what every engine writes."""
        order = np.argsort(-scores, kind='stable')
        if topk is not None:
            chosen = order[:topk]
        else:
            chosen = [c for c in order if scores[c] >= self.thresholds[c]]
        out = {}
        if not isinstance(item, np.ndarray):
            out['img_path'] = item
        out['scores'] = {c: float(s) for c, s in zip(self.classes, scores)}
        out['pred_labels'] = [self.classes[c] for c in chosen]
        out['pred_scores'] = [float(scores[c]) for c in chosen]
        return out

    def iter_batches(self, inputs, batch_size: int = 1,
                     topk: Optional[int] = None,
                     on_error: str = 'raise',
                     workers: int = 0) -> Iterator[List[dict]]:
        """Yield the results batch by batch, in input order.

        ``on_error='skip'``: an image that cannot be read is left out and
        recorded in ``self.skipped`` as ``(path, message)``. ``workers``:
        processes that read and transform images (0: this process); they
        end with this process, however it ends.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size={batch_size} must be >= 1')
        if topk is not None and not 1 <= topk <= self.num_classes:
            raise ValueError(f'topk={topk} must be in [1, '
                             f'{self.num_classes}]')
        if on_error not in ('raise', 'skip'):
            raise ValueError(f"on_error={on_error!r}: 'raise' or 'skip'")
        if workers < 0:
            raise ValueError(f'workers={workers} must be >= 0')
        items = expand_inputs(inputs, self.channel_order)
        self.skipped = []
        loader = DataLoader(
            _Prepared(items, self._pipelines), batch_size=batch_size,
            shuffle=False, num_workers=workers, collate_fn=_as_list,
            worker_init_fn=EndWithParent() if workers else None,
            prefetch_factor=2 if workers else None)
        for batch in loader:
            chunk, data = [], []
            for index, prepared, err in batch:
                item = items[index]
                if err is not None:
                    if on_error == 'raise':
                        raise err
                    self.skipped.append((
                        str(item) if not isinstance(item, np.ndarray)
                        else f'array #{index}',
                        f'{type(err).__name__}: {err}'))
                    continue
                data.append(prepared)
                chunk.append(item)
            if not data:
                yield []
                continue
            scores = self.score_prepared(data, [
                str(i) if not isinstance(i, np.ndarray) else 'an array'
                for i in chunk])
            yield [self.result(item, s, topk)
                   for item, s in zip(chunk, scores)]

    def score_prepared(self, data: List[dict],
                       names: Sequence[str]) -> np.ndarray:
        """Scores (N, C) of images already through the test pipeline
        (:func:`prepare_item`'s output); ``names`` say which image a
        non-finite score came from. The model half of :meth:`iter_batches`,
        for engines that decode elsewhere (:mod:`mlic.apis.ray_tagging`).
        """
        batch = pseudo_collate(list(data))
        model = self._model_for(batch)
        with torch.no_grad(), self._precision():
            samples = model.test_step(batch)
        scores = np.stack([s.pred_score.float().cpu().numpy()
                           for s in samples])
        check_finite_scores(scores, list(names))
        return scores

    def attention(self, item, layer: int = -1) -> dict:
        """One image's scores and the decoder's cross-attention maps.

        Returns ``original`` (the image as read, RGB uint8, its own size),
        ``image`` (the network's input, RGB uint8, after the test
        pipeline's resize), ``scores`` ((C,) probabilities) and ``maps``
        ((C, H', W'): layer ``layer``'s attention of every label query over
        the feature map, averaged over heads; each sums to 1). The maps
        come from the head's own forward (``QueryDecoderHead.
        attention_maps``); with grouped queries each class has its
        group's map.
        """
        head = self.model.head
        if not hasattr(head, 'attention_maps'):
            raise TypeError(f'{type(head).__name__} has no attention maps '
                            '(a label-query head such as QueryDecoderHead '
                            'has)')
        item = expand_inputs(item, self.channel_order)[0]
        if not isinstance(item, np.ndarray):  # read it once, keep it
            item = self._pipelines['load'](dict(img_path=item))['img']
            if getattr(self._pipelines['load'], 'channel_order',
                       'bgr') == 'rgb':
                item = np.ascontiguousarray(item[..., ::-1])
        original = np.ascontiguousarray(item[..., ::-1])  # BGR -> RGB
        prepared = self._prepare(item)
        packed = prepared['inputs'].clone()
        data = self.model.data_preprocessor(pseudo_collate([prepared]),
                                            False)
        with torch.no_grad(), self._precision():
            feats = self.model.extract_feat(data['inputs'])
            scores = torch.sigmoid(head(feats))[0]
            maps = head.attention_maps(feats)
        if not -len(maps) <= layer < len(maps):
            raise ValueError(f'layer={layer}: the decoder has {len(maps)} '
                             'layers')
        image = packed.permute(1, 2, 0).cpu().numpy()[..., ::-1]  # BGR->RGB
        return dict(original=original, image=np.ascontiguousarray(image),
                    scores=scores.float().cpu().numpy(),
                    maps=maps[layer][0].float().cpu().numpy())

    def __call__(self, inputs, batch_size: int = 1,
                 topk: Optional[int] = None,
                 on_error: str = 'raise', workers: int = 0) -> List[dict]:
        """One dict per image: ``img_path`` (for path inputs), ``scores``
        (every class -> probability), ``pred_labels`` / ``pred_scores``
        (above threshold, or the ``topk`` best; highest first)."""
        results = []
        for batch in self.iter_batches(inputs, batch_size, topk, on_error,
                                       workers):
            results.extend(batch)
        return results


__all__ = ['MultiLabelInferencer', 'list_images', 'expand_inputs',
           'IMAGE_EXTENSIONS', 'ImageInputError']
