"""How a run uses this machine: every such decision, made in one place.

* **Evaluation precision and BatchNorm folding** (:class:`EvalPolicy`):
  ``test_cfg.fp16`` / ``val_cfg.fp16`` (``tools/test.py --amp``,
  ``tools/train.py --amp``), ``MultiLabelInferencer(amp=...)``,
  ``tools/infer.py --amp`` and the benchmark's inference column all run
  the forward under fp16 autocast on a GPU and bfloat16 autocast on a CPU;
  on a CPU without bf16 instructions (x86 AVX512-BF16 or AMX) bf16 is
  slower than float32, so there evaluation stays in float32, said in the
  log. Attention softmax, IRPE gathers and the label classifier stay in
  float32 under autocast (:mod:`mlic.models.layers.precision`).
  ``fold_bn`` (default True in the shipped schedules) evaluates a copy of
  the model with BatchNorm folded into its convolutions
  (:mod:`mlic.models.batchnorm_folding`).
* **The optimizer wrapper** (:func:`optim_wrapper_cfg`): an fp16
  ``AmpOptimWrapper`` on a CPU-only machine becomes bfloat16 autocast
  (:class:`mlic.engine.cpu.CPUAmpOptimWrapper`) where the CPU has bf16
  instructions and float32 where it has not; ``optim_wrapper.type=
  OptimWrapper`` on an AMP config trains in float32 without the AMP-only
  keys (which ``OptimWrapper`` would refuse).

The tools resolve these once, when the run is set up
(:func:`mlic.engine.run_setup.prepare_run`); the inferencer and the
benchmark call :meth:`EvalPolicy.from_config`. This is the one module that
reads ``test_cfg`` / ``val_cfg`` for them.
"""
import contextlib
from typing import NamedTuple, Optional

import torch

from . import cpu

EVAL_DTYPES = {'cuda': torch.float16, 'cpu': torch.bfloat16}
AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


# --------------------------------------------------------------- evaluation
def eval_autocast(device_type: str, enabled: bool = True):
    """The autocast of mixed-precision evaluation on ``device_type``
    (``'cuda'`` or ``'cpu'``); a no-op context when not ``enabled``."""
    if not enabled:
        return contextlib.nullcontext()
    if device_type not in EVAL_DTYPES:
        raise ValueError(f'mixed-precision evaluation on {device_type!r}: '
                         'only cuda (fp16) and cpu (bfloat16) have it; run '
                         'without --amp / test_cfg.fp16 there')
    return torch.autocast(device_type=device_type,
                          dtype=EVAL_DTYPES[device_type])


def eval_precision_name(device_type: str, enabled: bool) -> str:
    """'fp32', 'fp16 autocast' or 'bf16 autocast' (for tables, logs)."""
    if not enabled:
        return 'fp32'
    short = {torch.float16: 'fp16', torch.bfloat16: 'bf16'}
    return f'{short[EVAL_DTYPES[device_type]]} autocast'


def eval_amp_allowed(device_type: str, enabled: bool,
                     logger_print=print) -> bool:
    """``enabled``, except on a CPU without bf16 instructions: there
    False, announced with ``logger_print``."""
    if enabled and device_type == 'cpu' and not cpu.cpu_has_native_bf16():
        logger_print('Mixed-precision evaluation asked for on a CPU without '
                     'bf16 instructions (AVX512-BF16 or AMX): evaluating in '
                     'float32, since bf16 autocast runs slower there.')
        return False
    return bool(enabled)


class EvalPolicy(NamedTuple):
    """How a trained model is evaluated on one device (module docstring)."""
    device_type: str
    amp: bool
    fold_bn: bool

    def autocast(self):
        return eval_autocast(self.device_type, self.amp)

    @property
    def precision_name(self) -> str:
        return eval_precision_name(self.device_type, self.amp)

    @classmethod
    def from_config(cls, cfg, device_type: str, amp: Optional[bool] = None,
                    fold_bn: Optional[bool] = None, stage: str = 'test',
                    logger_print=print) -> 'EvalPolicy':
        """What ``tools/test.py`` (``stage='test'``: ``test_cfg``) or the
        validation of a training run (``stage='val'``: ``val_cfg``) runs
        for ``cfg`` on ``device_type``: the loop's ``fp16`` (unless ``amp``
        is given; the CPU rule applied) and whether it folds BatchNorm
        (:func:`loop_folds`; unless ``fold_bn`` is given)."""
        loop = cfg.get(LOOP_KEYS[stage]) or {}
        if amp is None:
            amp = bool(loop.get('fp16', False))
        if fold_bn is None:
            fold_bn = loop_folds(loop, stage)
        return cls(device_type, eval_amp_allowed(device_type, amp,
                                                 logger_print),
                   bool(fold_bn))


# Folding BatchNorm for evaluation: on unless a loop says fold_bn=False.
FOLD_BN_DEFAULT = True
LOOP_KEYS = dict(test='test_cfg', val='val_cfg')
# The registered names of the loops that fold (MLICTestLoop: the name
# configs of earlier mlic versions use).
FOLDING_LOOPS = dict(test=('FoldedTestLoop', 'MLICTestLoop'),
                     val=('DualValLoop', ))


def loop_folds(loop: dict, stage: str = 'test') -> bool:
    """Whether the val / test loop config ``loop`` evaluates a
    BatchNorm-folded copy: one of mlic's folding loops, and ``fold_bn``
    not set False (:data:`FOLD_BN_DEFAULT`)."""
    loop = loop or {}
    return loop.get('type') in FOLDING_LOOPS[stage] and \
        bool(loop.get('fold_bn', FOLD_BN_DEFAULT))


def eval_loop_cfg(loop, logger_print=print):
    """A val / test loop config as this machine runs it: ``fp16`` off on a
    CPU-only machine without bf16 instructions (:func:`eval_amp_allowed`).
    Anything else comes back unchanged."""
    if not isinstance(loop, dict) or not loop.get('fp16') or \
            not cpu.is_cpu_only():
        return loop
    if eval_amp_allowed('cpu', True, logger_print):
        return loop
    return dict(loop, fp16=False)


def enable_eval_amp(cfg, *loops: str):
    """Set ``fp16=True`` in ``cfg.<loop>`` for each of ``loops``
    (``'val_cfg'``, ``'test_cfg'``); a loop the config switched off (None)
    stays off."""
    for name in loops:
        loop = cfg.get(name, {})
        if loop is None:
            continue
        cfg[name] = dict(loop, fp16=True)
    return cfg


# ---------------------------------------------------------------- training
def cpu_optim_wrapper_cfg(optim, logger_print=print):
    """An ``AmpOptimWrapper`` config for a CPU-only machine: bfloat16
    autocast (fp16 loss scaling has no CPU implementation), or float32 on a
    CPU without bf16 instructions. Other configs (and every config on a GPU
    machine) come back unchanged."""
    if not cpu.is_cpu_only() or not isinstance(optim, dict) or \
            optim.get('type') != 'AmpOptimWrapper':
        return optim
    dtype = optim.get('dtype', None)
    new = {k: v for k, v in optim.items() if k not in ('loss_scale', 'dtype')}
    if not cpu.cpu_has_native_bf16():
        logger_print('AMP requested on a CPU-only machine without bf16 '
                     'instructions (AVX512-BF16 or AMX): training in float32 '
                     '(OptimWrapper), since bf16 autocast runs slower than '
                     'float32 there; optim_wrapper.type=CPUAmpOptimWrapper '
                     'forces bf16 autocast.')
        new['type'] = 'OptimWrapper'
        return new
    # A GPU recipe (fp16 + loss scaling) run on a CPU - tests, a laptop
    # smoke run, the built-in demo - keeps mixed precision the only way a
    # CPU offers it.
    asked = '' if dtype in (None, 'bfloat16', torch.bfloat16) else (
        f' (the config asks for dtype={dtype!r}, which needs a GPU)')
    logger_print('AMP requested on a CPU-only machine: using bfloat16 '
                 f'autocast (CPUAmpOptimWrapper){asked}; fp16 with loss '
                 'scaling needs a GPU.')
    new['type'] = 'CPUAmpOptimWrapper'
    return new


def float32_optim_wrapper_cfg(optim, logger_print=print):
    """An optimizer wrapper config switched to the plain ``OptimWrapper``
    (``--cfg-options optim_wrapper.type=OptimWrapper`` on an AMP config)
    without the keys only ``AmpOptimWrapper`` takes, which ``OptimWrapper``
    would refuse with a TypeError; the keys dropped are named in the log.
    Any other config comes back unchanged."""
    if not isinstance(optim, dict) or optim.get('type') != 'OptimWrapper':
        return optim
    extra = [k for k in AMP_ONLY_KEYS if k in optim]
    if not extra:
        return optim
    dropped = ', '.join(f'{k}={optim[k]!r}' for k in extra)
    logger_print(f'optim_wrapper.type=OptimWrapper trains in float32: '
                 f'the AMP-only setting(s) {dropped} do not apply and are '
                 'dropped.')
    return {k: v for k, v in optim.items() if k not in extra}


def optim_wrapper_cfg(optim, logger_print=print):
    """The optimizer wrapper config as this machine builds it (the run
    set-up and the benchmark): the CPU-only rule first, since its float32
    fallback is a plain ``OptimWrapper`` too, then the float32 switch.
    Non-dict configs (a built wrapper) come back unchanged."""
    optim = cpu_optim_wrapper_cfg(optim, logger_print)
    return float32_optim_wrapper_cfg(optim, logger_print)
