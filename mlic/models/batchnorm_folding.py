"""BatchNorm folded into the convolution before it, for evaluation.

In eval mode a BatchNorm layer is a per-channel affine map,
``y = (x - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``. When
``x`` is a convolution's output the map can go into the convolution's
weights instead: ``W' = W * s`` (per output channel) and
``b' = (b - mean) * s + beta``; the BatchNorm becomes the identity (or,
for timm's ``BatchNormAct2d``, its activation). The values are the same up
to rounding (tests/test_models/test_batchnorm_folding.py: 1e-10 in
float64), one pass over the feature map less per layer.

:func:`fold_batchnorm` never changes the model it is given: it returns a
*copy* that shares every parameter and buffer with it except the folded
convolutions' weights and biases. The copy is a snapshot for one
evaluation: after a training step, a weight swap (EMA) or a
``load_state_dict`` of the original, fold again.

Which convolution feeds which BatchNorm is read off one real forward pass
(module hooks), not assumed from names, so it works for any backbone. A
pair is folded only when the BatchNorm's input *is* that convolution's
output (the same tensor, not modified in place since) on every call. A
convolution whose output is also used elsewhere (a residual taken before
the norm) cannot be seen that way, so the folded copy is checked against
the original on the same input; if they differ it is not used.
docs/benchmarks.md has the measured gain.

One private PyTorch attribute is read: ``Tensor._version``, the counter
autograd raises on every in-place change of a tensor. The pairing compares
it between the convolution's output and the BatchNorm's input, so that a
tensor changed in place in between (``conv -> relu_ -> bn``) is not taken
for the convolution's output; should it ever go away, only such pairs are
affected, and the numeric check above still refuses a wrong copy.
"""
import copy
import math
import warnings
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.model import BaseModel, is_model_wrapper
from timm.layers import BatchNormAct2d
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights

# BatchNorm types whose eval-mode forward is exactly F.batch_norm on the
# running statistics (SyncBatchNorm only syncs in training mode).
PLAIN_BATCHNORMS = (nn.BatchNorm2d, nn.SyncBatchNorm)


def _batchnorm_act_type():
    return BatchNormAct2d


@dataclass
class FoldReport:
    """What :func:`fold_batchnorm` did.

    Attributes:
        folded: names of the BatchNorm layers folded (in the copy).
        skipped: ``{name: reason}`` for BatchNorm layers left as they are.
        max_rel_diff: ``max |folded - original| / max |original|`` of the
            outputs on the check input (None when nothing was folded).
        used: whether the folded copy is returned (False: the original).
        reason: why the copy is not used, if it is not.
    """
    folded: List[str] = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    max_rel_diff: Optional[float] = None
    used: bool = False
    reason: str = ''

    def summary(self) -> str:
        if self.used:
            return (f'folded {len(self.folded)} BatchNorm layers into their '
                    'convolutions for evaluation (check on one input: max '
                    f'relative difference {self.max_rel_diff:.1e})')
        return f'BatchNorm not folded: {self.reason}'


def _replacement(bn: nn.Module) -> Optional[nn.Module]:
    """What takes a folded BatchNorm's place, or None if it cannot be
    folded (another forward than F.batch_norm, or no running stats)."""
    if bn.training or not bn.track_running_stats or bn.running_mean is None:
        return None
    if type(bn) in PLAIN_BATCHNORMS:
        return nn.Identity()
    bn_act = _batchnorm_act_type()
    if bn_act is not None and type(bn) is bn_act:
        return nn.Sequential(bn.drop, bn.act)  # its forward after the norm
    return None


def _tensors(out) -> List[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return []


def _max_rel_diff(ref, out) -> float:
    refs, outs = _tensors(ref), _tensors(out)
    if len(refs) != len(outs) or not refs:
        return math.inf
    worst = 0.0
    for a, b in zip(refs, outs):
        if a.shape != b.shape:
            return math.inf
        a, b = a.detach().double(), b.detach().double()
        scale = a.abs().max().item() if a.numel() else 0.0
        diff = (a - b).abs().max().item() if a.numel() else 0.0
        if not math.isfinite(diff):
            return math.inf
        worst = max(worst, diff / max(scale, 1e-12))
    return worst


def default_forward(model: nn.Module, inputs: torch.Tensor):
    """An mmengine model's tensor forward (logits), else ``model(inputs)``."""
    if isinstance(model, BaseModel):
        return model(inputs, mode='tensor')
    return model(inputs)


def trace_conv_batchnorm_pairs(model: nn.Module, inputs, forward=None):
    """Run one forward pass and pair each BatchNorm with the convolution
    that feeds it. Returns ``(pairs, skipped, output)``: ``pairs`` maps a
    BatchNorm's name to its convolution's name; ``skipped`` names the
    BatchNorm layers that ran but have no such convolution, with why."""
    forward = forward or default_forward
    # id(output) -> (conv name, weak reference, version): a freed output's
    # id may be reused by another tensor, which its dead reference rejects;
    # the version counter: see the module docstring
    conv_out = {}
    conv_calls = defaultdict(int)
    bn_sources = defaultdict(list)
    handles = []

    def on_conv(name):
        def hook(module, args, out):
            conv_calls[name] += 1
            if isinstance(out, torch.Tensor):
                conv_out[id(out)] = (name, weakref.ref(out), out._version)
        return hook

    def on_bn(name):
        def hook(module, args, out):
            x = args[0] if args else None
            src = conv_out.get(id(x)) if isinstance(x, torch.Tensor) else None
            same = src is not None and src[1]() is x and \
                x._version == src[2]
            bn_sources[name].append(src[0] if same else None)
        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(on_conv(name)))
        elif isinstance(module, _BatchNorm):
            handles.append(module.register_forward_hook(on_bn(name)))
    try:
        with torch.no_grad():
            output = forward(model, inputs)
    finally:
        for h in handles:
            h.remove()

    modules = dict(model.named_modules())
    pairs, skipped = {}, {}
    fed = defaultdict(list)
    for bn_name, sources in bn_sources.items():
        conv = sources[0]
        if conv is None or any(s != conv for s in sources):
            skipped[bn_name] = 'its input is not a convolution\'s output'
        elif conv_calls[conv] != len(sources):
            skipped[bn_name] = (f'convolution {conv} also runs without it')
        elif _replacement(modules[bn_name]) is None:
            skipped[bn_name] = (f'{type(modules[bn_name]).__name__} in '
                                'training mode or without running '
                                'statistics, or of an unknown kind')
        elif modules[conv].out_channels != modules[bn_name].num_features:
            skipped[bn_name] = 'channel count differs from the convolution'
        else:
            fed[conv].append(bn_name)
    for conv, bns in fed.items():
        if len(bns) == 1:
            pairs[bns[0]] = conv
        else:
            for bn_name in bns:
                skipped[bn_name] = f'convolution {conv} feeds several norms'
    return pairs, skipped, output


def _fold_into(conv: nn.Conv2d, bn: _BatchNorm) -> None:
    """Set ``conv``'s weight and bias to the composition conv -> bn (eval)
    with PyTorch's own fusion arithmetic
    (``torch.nn.utils.fusion.fuse_conv_bn_weights``), fed in float64 and
    stored in the weight's dtype and memory layout."""
    def f64(t):
        return None if t is None else t.detach().double()

    w = conv.weight
    weight, bias = fuse_conv_bn_weights(
        f64(w), f64(conv.bias), f64(bn.running_mean), f64(bn.running_var),
        bn.eps, f64(bn.weight), f64(bn.bias))
    with torch.no_grad():
        # empty_like keeps the strides (channels-last or not), which
        # decide the convolution kernel's layout
        weight = torch.empty_like(w).copy_(weight)
    conv.weight = nn.Parameter(weight, requires_grad=False)
    conv.bias = nn.Parameter(bias.detach().to(w.dtype), requires_grad=False)


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition('.')
    setattr(root.get_submodule(parent) if parent else root, attr, module)


def fold_batchnorm(model: nn.Module, inputs: torch.Tensor,
                   forward: Optional[Callable] = None,
                   rtol: float = 1e-3) -> Tuple[nn.Module, FoldReport]:
    """A copy of ``model`` (in eval mode) with every BatchNorm that follows
    a convolution folded into it.

    Args:
        model: the model, in eval mode; it is not changed.
        inputs: one input batch (a single image is enough), used to find
            the convolution -> BatchNorm pairs and to check the copy.
        forward: ``forward(model, inputs)`` -> tensor(s) to compare;
            default :func:`default_forward` (an mmengine model's logits).
        rtol: the copy is used only if its outputs differ from the
            original's by at most ``rtol`` times their largest magnitude
            (folding changes only the rounding: about 1e-6 in float32).

    Returns:
        ``(model_to_evaluate, report)``: the folded copy, or ``model``
        itself when there is nothing to fold or the check failed
        (``report.reason`` says which).
    """
    report = FoldReport()
    if model.training:
        raise ValueError('fold_batchnorm folds running statistics: call '
                         'model.eval() first')
    if not any(isinstance(m, _BatchNorm) for m in model.modules()):
        report.reason = 'the model has no BatchNorm layers'
        return model, report
    forward = forward or default_forward
    with torch.autocast(inputs.device.type, enabled=False):
        pairs, report.skipped, reference = trace_conv_batchnorm_pairs(
            model, inputs, forward)
        if not pairs:
            report.reason = 'no BatchNorm follows a convolution directly'
            return model, report
        if not all(torch.isfinite(t).all() for t in _tensors(reference)):
            # NaN weights or inputs: nothing to check the copy against (and
            # the evaluation's own checks should see the model as it is)
            report.reason = ('the model\'s own outputs on the check input '
                             'are not finite (NaN or inf); evaluating the '
                             'unfolded model')
            return model, report
        try:
            shared = {id(t): t for t in
                      list(model.parameters()) + list(model.buffers())}
            folded = copy.deepcopy(model, shared)
        except Exception as err:  # a module that cannot be copied
            report.reason = f'the model cannot be copied ({err})'
            return model, report
        for bn_name, conv_name in pairs.items():
            bn = folded.get_submodule(bn_name)
            _fold_into(folded.get_submodule(conv_name), bn)
            _set_submodule(folded, bn_name, _replacement(bn))
        with torch.no_grad():
            out = forward(folded, inputs)
    report.max_rel_diff = _max_rel_diff(reference, out)
    if not report.max_rel_diff <= rtol:
        report.reason = (f'the folded copy\'s outputs differ from the '
                         f'model\'s by {report.max_rel_diff:.2e} (relative) '
                         f'on the check input, more than rtol={rtol} - a '
                         'convolution\'s output is probably used elsewhere '
                         'too; evaluating the unfolded model')
        return model, report
    report.folded = sorted(pairs)
    report.used = True
    return folded, report


def fold_batchnorm_for_batch(model: nn.Module, data_batch,
                             logger_print=print,
                             ) -> Tuple[nn.Module, FoldReport]:
    """:func:`fold_batchnorm` for an mmengine model (or its DDP wrapper),
    checked on the first image of a data batch as the dataloader gives it
    (the model's data preprocessor runs on it). The summary goes to
    ``logger_print``. Returns the model to evaluate (unwrapped when folded:
    evaluation steps run no collectives) and the report."""
    net = model.module if is_model_wrapper(model) else model
    with torch.no_grad():
        inputs = net.data_preprocessor(data_batch, False)['inputs']
    if isinstance(inputs, (list, tuple)):
        inputs = inputs[0][None]
    folded, report = fold_batchnorm(net, inputs[:1])
    logger_print(report.summary())
    if report.max_rel_diff is not None and not report.used:
        # folding was tried and refused: not a routine message
        warnings.warn(report.summary(), stacklevel=2)
    return (folded if report.used else model), report


__all__ = ['FoldReport', 'fold_batchnorm', 'fold_batchnorm_for_batch',
           'trace_conv_batchnorm_pairs', 'default_forward']
