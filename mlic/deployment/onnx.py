"""One ONNX graph from images to multi-label probabilities.

Input ``images``: float32, N x 3 x H x W, **RGB**, values 0-255 (the
pixels, resized to the model's input size). Output ``scores``: N x C
sigmoid probabilities. The config's data-preprocessor normalisation
(mean, std, channel order) is inside the graph, and so are the backbone,
the IRPE encoder (its bucket indices are constants of the H x W the graph
is exported for) and the label-query decoder: nothing to re-implement on
the deployment side.

    python tools/deployment/export_onnx.py CONFIG CKPT --out model.onnx \
        --dynamic-batch --verify

    import onnxruntime as ort
    session = ort.InferenceSession('model.onnx')
    scores = session.run(['scores'], {'images': batch_rgb_float32})[0]

The model carries what a deployment needs besides the graph, in its
metadata (``metadata_props``, JSON values under ``mlic.*`` keys:
:func:`deployment_metadata`): the class names, the thresholds, the input
size and the test pipeline's resize rule. ``tools/deployment/
onnx_infer.py`` reads them with onnxruntime, numpy and Pillow only.
"""
import json
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mlic.fileio import atomic_output
from mlic.version import __version__


class ScoresModel(nn.Module):
    """RGB 0-255 images -> probabilities, normalisation included."""

    def __init__(self, classifier: nn.Module, mean: Sequence[float],
                 std: Sequence[float], model_wants_rgb: bool = True):
        super().__init__()
        self.classifier = classifier
        self.register_buffer('mean', torch.tensor(
            [float(m) for m in mean]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(
            [float(s) for s in std]).view(1, 3, 1, 1))
        self.model_wants_rgb = model_wants_rgb

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images if self.model_wants_rgb else images.flip(1)
        x = (x - self.mean) / self.std
        feats = self.classifier.extract_feat(x)
        return torch.sigmoid(self.classifier.head(feats))


def scores_model(classifier: nn.Module) -> ScoresModel:
    """Wrap a built mmpretrain ``ImageClassifier`` (eval mode), with the
    mean/std of its own data preprocessor."""
    pre = classifier.data_preprocessor
    mean = pre.mean.view(-1).tolist() if getattr(pre, 'mean', None) \
        is not None else [0.0, 0.0, 0.0]
    std = pre.std.view(-1).tolist() if getattr(pre, 'std', None) \
        is not None else [1.0, 1.0, 1.0]
    # mmpretrain's preprocessor flips BGR input to RGB when to_rgb is set;
    # its mean/std are then in RGB order. Without to_rgb the model was fed
    # BGR, so the graph flips the RGB input back.
    wants_rgb = bool(getattr(pre, 'to_rgb', False))
    return ScoresModel(classifier, mean, std, wants_rgb).eval()


def export_onnx(model: ScoresModel, path: str, shape: Tuple[int, int],
                opset: int = 17, dynamic_batch: bool = False,
                batch: int = 1) -> str:
    """Trace ``model`` at ``shape`` (H, W) and write the ONNX file."""
    dummy = torch.rand(batch, 3, int(shape[0]), int(shape[1])) * 255.0
    axes = {'images': {0: 'batch'}, 'scores': {0: 'batch'}} \
        if dynamic_batch else None
    with warnings.catch_warnings(), atomic_output(path) as tmp:
        # shape checks of the model become constants of the trace: expected
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(model, (dummy, ), tmp, input_names=['images'],
                          output_names=['scores'], dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
    return path


META_PREFIX = 'mlic.'


def resize_rule(pipeline) -> dict:
    """The first ``Resize`` of a test pipeline config as metadata: its
    size (H, W), interpolation and keep_ratio."""
    for step in pipeline or []:
        if step.get('type') in ('Resize', 'mmpretrain.Resize'):
            if step.get('keep_ratio', False):
                raise ValueError(
                    'the test pipeline resizes with keep_ratio=True: an '
                    'exported graph takes one fixed size; export a config '
                    'whose test Resize squashes to its scale')
            return dict(type='Resize',
                        interpolation=step.get('interpolation', 'bilinear'),
                        keep_ratio=False)
    raise ValueError('no Resize in the test pipeline')


def deployment_metadata(classes, thresholds, shape, pipeline,
                        mean, std) -> dict:
    """The ``mlic.*`` metadata of an exported model (module docstring)."""
    return {
        'classes': [str(c) for c in classes],
        'thresholds': [float(t) for t in np.broadcast_to(
            np.asarray(thresholds, dtype=np.float64), (len(classes), ))],
        'input_size': [int(shape[0]), int(shape[1])],
        'resize': resize_rule(pipeline),
        'input': 'images: float32 N x 3 x H x W, RGB, 0-255 (resized, '
                 'not normalised); output scores: N x C probabilities',
        'mean': [float(m) for m in mean],
        'std': [float(s) for s in std],
        'normalisation_in_graph': True,
        'mlic_version': __version__,
    }


def write_metadata(path: str, meta: dict) -> None:
    """Store ``meta`` in the model's ``metadata_props`` (``mlic.<key>``:
    JSON), rewriting the file atomically."""
    import onnx  # optional dependency (requirements/optional.txt)
    model = onnx.load(path)
    kept = [p for p in model.metadata_props
            if not p.key.startswith(META_PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, json.dumps(value)
    with atomic_output(path) as tmp:
        onnx.save(model, tmp)


def read_metadata(path: str) -> dict:
    import onnx  # optional dependency
    model = onnx.load(path, load_external_data=False)
    return {p.key[len(META_PREFIX):]: json.loads(p.value)
            for p in model.metadata_props if p.key.startswith(META_PREFIX)}


def onnx_scores(path: str, images: np.ndarray,
                session: Optional[object] = None) -> np.ndarray:
    """Run the exported graph with onnxruntime (CPU)."""
    import onnxruntime as ort  # optional dependency
    if session is None:
        session = ort.InferenceSession(path,
                                       providers=['CPUExecutionProvider'])
    return session.run(['scores'],
                       {'images': np.ascontiguousarray(images,
                                                       dtype=np.float32)})[0]
