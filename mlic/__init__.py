"""mlic: multi-label image classification on MMEngine / MMPretrain."""
from .utils.compat import allow_mmengine_checkpoints
from .version import __version__

# Importing mlic is enough to make mmengine checkpoints loadable with
# torch.load(weights_only=True); see mlic/utils/compat.py.
allow_mmengine_checkpoints()

__all__ = ['__version__']
