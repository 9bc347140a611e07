"""The Transformer feed-forward block, shared by encoder and decoder."""
import torch.nn as nn

_ACTIVATIONS = dict(relu=nn.ReLU, gelu=nn.GELU)


def feedforward(embed_dims: int, feedforward_channels: int,
                dropout: float = 0.0, activation: str = 'relu') -> nn.Module:
    """Transformer FFN: Linear -> activation -> Dropout -> Linear."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f'activation={activation!r} must be one of '
                         f'{sorted(_ACTIVATIONS)}')
    return nn.Sequential(
        nn.Linear(embed_dims, feedforward_channels),
        _ACTIVATIONS[activation](), nn.Dropout(dropout),
        nn.Linear(feedforward_channels, embed_dims))
