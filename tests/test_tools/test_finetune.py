"""configs/custom/finetune_shapes_combos.py: a 12-class demo checkpoint
fine-tuned to the built-in data's 216 'combos' classes with partial_load:
the backbone comes from the checkpoint (frozen here, so it must stay equal
to it), the label queries and classifier are new; without partial_load the
checkpoint is refused with the fix."""
import os.path as osp

import pytest
import torch

from conftest import REPO, load_tool
from mlic.engine import read_checkpoint

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

CFG = osp.join(REPO, 'configs', 'custom', 'finetune_shapes_combos.py')
DEMO = osp.join(REPO, 'configs', 'q2l_irpe', 'shapes_demo.py')
TINY_DATA = dict(num_images=dict(train=32, val=16), image_size=64)


def _tiny(tmp_path):
    """The fine-tune config on 32 + 16 images, 1 epoch."""
    path = tmp_path / 'tiny_finetune.py'
    path.write_text(
        f'_base_ = [{CFG!r}]\n'
        'train_cfg = dict(max_epochs=1)\n'
        f'train_dataloader = dict(batch_size=16, num_workers=0, '
        f'persistent_workers=False, dataset=dict(**{TINY_DATA!r}))\n'
        f'val_dataloader = dict(batch_size=16, num_workers=0, '
        f'persistent_workers=False, dataset=dict(**{TINY_DATA!r}))\n'
        'test_dataloader = val_dataloader\n')
    return str(path)


@pytest.fixture(scope='module')
def demo_ckpt(tmp_path_factory):
    from mlic.apis import MultiLabelInferencer
    torch.manual_seed(0)
    model = MultiLabelInferencer(DEMO, device='cpu').model
    path = str(tmp_path_factory.mktemp('demo') / 'epoch_30.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=[
                        f'c{k}' for k in range(12)]))), path)
    return path


def test_finetune_keeps_the_backbone_and_starts_new_queries(
        demo_ckpt, tmp_path):
    work = tmp_path / 'ft'
    load_tool('train').main([_tiny(tmp_path), '--work-dir', str(work),
                             '--cfg-options', f'load_from={demo_ckpt}',
                             'model.backbone.frozen_stages=3'])
    old = read_checkpoint(demo_ckpt)['state_dict']
    new = read_checkpoint(str(work / 'epoch_1.pth'))['state_dict']
    backbone = [k for k in old if k.startswith('backbone.')]
    assert backbone and all(torch.equal(old[k], new[k]) for k in backbone)
    assert new['head.query_embed'].shape[0] == 216
    assert old['head.query_embed'].shape[0] == 12
    # the encoder was loaded and then trained: it moved, from the checkpoint
    neck = [k for k in old if k.startswith('neck.') and
            old[k].dtype.is_floating_point and old[k].shape == new[k].shape]
    assert neck and any(not torch.equal(old[k], new[k]) for k in neck)


def test_finetune_without_partial_load_is_refused(demo_ckpt, tmp_path):
    with pytest.raises(Exception, match='partial-load'):
        load_tool('train').main([_tiny(tmp_path), '--work-dir',
                                 str(tmp_path / 'x'), '--cfg-options',
                                 f'load_from={demo_ckpt}',
                                 'partial_load=False'])
