"""mlic: multi-label image classification on MMEngine / MMPretrain."""
from .utils.upstream_imports import import_upstream
from .version import __version__

# Before any mlic module imports them: MMPretrain beside transformers >= 5,
# and mmcv-lite's compiled-op warning (mlic/utils/upstream_imports.py).
import_upstream()

from .utils.compat import allow_mmengine_checkpoints  # noqa: E402

# Importing mlic is enough to make mmengine checkpoints loadable with
# torch.load(weights_only=True); see mlic/utils/compat.py.
allow_mmengine_checkpoints()

__all__ = ['__version__']
