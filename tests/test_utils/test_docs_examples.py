"""The code examples of docs/new_components.md run as printed."""
import os.path as osp
import re

import numpy as np
import pytest
import torch

from conftest import REPO


def _blocks(marker):
    text = open(osp.join(REPO, 'docs', 'new_components.md')).read()
    blocks = re.findall(r'```python\n(.*?)```', text, re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, marker
    # re-running the suite in one process must not clash on the names
    return found[0].replace('register_module()',
                            'register_module(force=True)').replace(
        "register_module(name='my_naming')",
        "register_module(name='my_naming', force=True)")


def test_dataset_example(tmp_path):
    ns = {}
    exec(_blocks('class MyListDataset'), ns)
    (tmp_path / 'imgs').mkdir()
    (tmp_path / 'train.txt').write_text('a.jpg 1 0\nb.jpg\n')
    ds = ns['MyListDataset'](ann_file=str(tmp_path / 'train.txt'),
                             data_prefix=str(tmp_path / 'imgs'),
                             metainfo=dict(classes=('cat', 'dog')))
    assert ds.get_data_info(0)['gt_label'] == [0, 1]
    assert ds.get_data_info(1)['gt_label'] == []
    (tmp_path / 'bad.txt').write_text('a.jpg cat\n')
    from mlic.datasets import DatasetError
    with pytest.raises(DatasetError, match=r'bad.txt:1'):
        ns['MyListDataset'](ann_file=str(tmp_path / 'bad.txt'),
                            metainfo=dict(classes=('cat', 'dog')))


def test_transform_example():
    ns = {}
    exec(_blocks('class RandomGrayscale'), ns)
    img = np.random.default_rng(0).integers(0, 255, (4, 5, 3), np.uint8)
    out = ns['RandomGrayscale'](prob=1.0)(dict(img=img.copy()))['img']
    assert out.shape == img.shape
    assert (out[..., 0] == out[..., 1]).all()
    same = ns['RandomGrayscale'](prob=0.0)(dict(img=img.copy()))['img']
    assert (same == img).all()


def test_weight_converter_example():
    ns = {}
    exec(_blocks("name='my_naming'"), ns)
    from mlic.models.pretrained import convert_state_dict
    state = {'encoder.conv.weight': torch.ones(1), 'fc.bias': torch.ones(1)}
    out, fmt = convert_state_dict(state, torch.nn.Identity(), 'my_naming')
    assert fmt == 'my_naming' and list(out) == ['conv.weight']


def test_loss_example_trains_and_honours_ignored_labels():
    """The custom loss of docs/new_components.md, in the demo's head: a few
    steps on a fixed batch lower it, and an ignored label has no gradient."""
    from mmpretrain.structures import DataSample

    from mlic.models.heads import QueryDecoderHead
    ns = {}
    exec(_blocks('class MySoftMarginLoss'), ns)
    torch.manual_seed(0)
    head = QueryDecoderHead(num_classes=4, in_channels=16, num_layers=1,
                            num_heads=2, feedforward_channels=32, dropout=0,
                            loss=dict(type='MySoftMarginLoss'))
    assert type(head.loss_module).__name__ == 'MySoftMarginLoss'
    feats = (torch.randn(3, 16, 2, 2), )
    samples = [DataSample().set_gt_label(g) for g in ([0, 2], [1], [])]
    samples[1].set_field(torch.tensor([3]), 'gt_label_ignore',
                         field_type='metainfo')
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = head.loss(feats, samples)['loss']
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    score = head(feats).detach().requires_grad_()
    head._get_loss(score, samples)['loss'].backward()
    assert score.grad[1, 3] == 0 and score.grad[0, 3] != 0
