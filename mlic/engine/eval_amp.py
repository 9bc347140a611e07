"""Mixed-precision evaluation and inference.

One rule for every place that runs a trained model: ``val_cfg.fp16`` /
``test_cfg.fp16`` (mmengine's ValLoop and TestLoop, and mlic's
DualValLoop), ``tools/train.py --amp`` (training and validation),
``tools/test.py --amp``, ``MultiLabelInferencer(amp=True)`` /
``tools/infer.py --amp`` and the benchmark's inference column: the forward
runs under fp16 autocast on a GPU and bfloat16 autocast on a CPU (what
mmengine's loops pick for ``fp16=True``). Attention softmax, IRPE gathers
and QueryDecoderHead's label classifier stay in float32 under it
(:mod:`mlic.models.layers.precision`), so its scores carry float32
resolution; what changes is the rounding of the convolutions and matrix
products. On a CPU without bf16 instructions (x86 AVX512-BF16 or AMX)
bf16 autocast is slower than float32, so there evaluation stays in
float32, said in the log (:func:`eval_amp_allowed`). docs/model_zoo.md
"Speed" has the measured speed and the change of the metrics.
"""
import contextlib

import torch

from . import cpu

EVAL_DTYPES = {'cuda': torch.float16, 'cpu': torch.bfloat16}


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


def config_eval_amp(cfg) -> bool:
    """Whether the config asks for mixed-precision testing
    (``test_cfg.fp16``): what tools/test.py runs, and the default of the
    inferencer and of the benchmark's inference."""
    return bool((cfg.get('test_cfg') or {}).get('fp16', False))


def cpu_eval_loop_cfg(loop, logger_print=print):
    """A val / test loop config with ``fp16=True`` on a CPU-only machine
    without bf16 instructions: ``fp16`` off (float32), announced
    (:func:`eval_amp_allowed`). Anything else comes back unchanged."""
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
