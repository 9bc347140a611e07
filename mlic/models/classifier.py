"""The classifier every mlic model config builds: mmpretrain's
``ImageClassifier`` with the memory layout of its backbone as an option."""
import torch
from mmpretrain.models import ImageClassifier

from mlic.registry import MODELS


@MODELS.register_module()
class MultiLabelClassifier(ImageClassifier):
    """``ImageClassifier`` (backbone -> neck -> head, same arguments, same
    state_dict keys) with ``channels_last``.

    Args:
        channels_last (bool): keep the backbone's 4-D weights and its input
            images in channels-last (NHWC) memory layout. The initial
            weights and the values are the same as in NCHW
            (tests/test_models/test_speed_paths.py); convolutions run faster
            in it on CPUs (oneDNN) and on GPUs with tensor cores. On in the
            configs (docs/model_zoo.md "Speed" has the measured gain); the
            default here is False, as ``ImageClassifier``.
        *args, **kwargs: as mmpretrain's ``ImageClassifier``.
    """

    def __init__(self, *args, channels_last: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            # Weight loading (copy_) and .to(device) keep the layout.
            self.backbone.to(memory_format=torch.channels_last)

    def init_weights(self):
        """Initialise as the NCHW model does, then keep channels-last.

        Random initialisers (kaiming, trunc_normal ...) fill a tensor in
        memory order: on channels-last weights the same draws would land on
        other elements, a different initial model for the same seed. So the
        backbone is initialised in the standard layout and converted after.
        """
        if self.channels_last:
            self.backbone.to(memory_format=torch.contiguous_format)
        super().init_weights()
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def extract_feat(self, inputs, stage='neck'):
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return super().extract_feat(inputs, stage)
