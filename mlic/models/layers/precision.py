"""The precision rule of mlic's attention: softmax, bucket gathers and
scatters compute in at least float32 (float64 stays float64), also under
fp16/bf16 autocast; and so does the label classifier of QueryDecoderHead."""
import torch
from torch import Tensor


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32 if it is in a lower precision, else unchanged."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
