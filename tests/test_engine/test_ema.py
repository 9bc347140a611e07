"""DualEMAHook + DualValLoop: the average, both evaluations, best checkpoint."""
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch import nn
from torch.utils.data import Dataset

from mlic.engine import DualEMAHook
from mlic.registry import HOOKS, MODELS
from mlic.engine import read_checkpoint
from mlic.utils import register_all_modules


class _Toy(nn.Module):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)


def test_ema_equals_closed_form():
    """After N steps: ema = d^(N-1) p_1 + sum_{k>=2} (1-d) d^(N-k) p_k."""
    register_all_modules()  # the hook builds mlic's MultiTensorEMA
    torch.manual_seed(0)
    model = _Toy()
    hook = DualEMAHook(decay=0.9)
    runner = SimpleNamespace(model=model, iter=0, epoch=0)
    hook.before_run(runner)
    history = []
    for step in range(7):
        with torch.no_grad():
            for t in list(model.parameters()) + [model.bn.running_mean,
                                                 model.bn.running_var]:
                t.copy_(torch.randn_like(t))
        history.append({k: v.clone() for k, v in model.state_dict().items()})
        runner.iter = step
        hook.after_train_iter(runner, step)
    d, n = 0.9, len(history)
    ema = {k: v.clone() for k, v in hook.ema_weights().items()}
    for key in ('fc.weight', 'fc.bias', 'bn.weight', 'bn.running_mean',
                'bn.running_var'):
        expect = d**(n - 1) * history[0][key]
        for k in range(2, n + 1):
            expect = expect + (1 - d) * d**(n - k) * history[k - 1][key]
        torch.testing.assert_close(ema[key], expect, rtol=1e-6, atol=1e-6)
    # swapping twice is the identity, once exchanges the weights
    raw = model.fc.weight.clone()
    hook.swap_parameters()
    torch.testing.assert_close(model.fc.weight, ema['fc.weight'])
    hook.swap_parameters()
    torch.testing.assert_close(model.fc.weight, raw)


def test_select_and_bad_key():
    raw = dict(mAP=80.0, CF1=70.0)
    ema = dict(mAP=81.0, CF1=60.0)
    winner, m = DualEMAHook.select(raw, ema)
    assert winner == 'ema' and m['mAP'] == 81.0 and m['CF1'] == 60.0
    assert m['raw/CF1'] == 70.0 and m['ema/mAP'] == 81.0
    assert m['ema_selected'] == 1.0
    winner, m = DualEMAHook.select(dict(mAP=82.0), dict(mAP=81.0))
    assert winner == 'raw' and m['mAP'] == 82.0 and m['ema_selected'] == 0.0
    with pytest.raises(KeyError, match="'mAP'.*CF1"):
        DualEMAHook.select(dict(CF1=1.0), dict(CF1=1.0))
    with pytest.raises(ValueError, match='decay'):
        DualEMAHook(decay=1.0)


# --- a Runner with a model whose raw / EMA weights the test sets ----------
X = torch.tensor([[1., 0.], [0., 1.], [1., 1.], [0., 0.]])
Y = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]])
GOOD = torch.eye(2) * 4.0   # scores follow the labels: mAP 100
BAD = -torch.eye(2) * 4.0   # reversed ranking


class _ToyData(Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return len(X)

    def __getitem__(self, i):
        sample = DataSample().set_gt_label(torch.nonzero(Y[i])[:, 0])
        sample.set_metainfo(dict(sample_idx=i))
        return dict(inputs=X[i], data_samples=sample)


@MODELS.register_module(force=True)
class _ScoreModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, 2))

    autocast_seen = []  # per predict call: was CPU autocast on?

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        if mode == 'predict':
            self.autocast_seen.append(torch.is_autocast_enabled('cpu'))
        return _outputs(self.logits(x), data_samples, mode)

    def logits(self, x):
        return x @ self.w

    def set_test_weights(self, w):
        self.w.copy_(w)


def _outputs(logits, data_samples, mode):
    if mode == 'loss':
        return dict(loss=(logits * 0).sum())
    if mode == 'tensor':
        return logits
    for s, p in zip(data_samples, logits.sigmoid()):
        s.set_pred_score(p)
    return data_samples


@HOOKS.register_module(force=True)
class _SetWeightsHook(Hook):
    """After the epoch (before validation) give raw / EMA chosen weights."""
    priority = 'HIGHEST'

    def __init__(self, raw, ema):
        self.raw, self.ema = raw, ema

    def after_train_epoch(self, runner):
        hook = next(h for h in runner.hooks if isinstance(h, DualEMAHook))
        with torch.no_grad():
            runner.model.set_test_weights(self.raw)
            hook.ema_model.module.set_test_weights(self.ema)


def _run(tmp_path, raw, ema, val_cfg=None, runner_type=Runner,
         model='_ScoreModel'):
    register_all_modules()
    loader = dict(dataset=_ToyData(), batch_size=2, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='pseudo_collate'))
    runner = runner_type(
        model=dict(type=model),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        val_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=1),
        val_cfg=val_cfg or dict(type='DualValLoop'),
        val_evaluator=dict(type='MLICMetric'),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),
        default_hooks=dict(checkpoint=dict(
            type='SafeCheckpointHook', interval=1, save_best='mAP',
            rule='greater')),
        custom_hooks=[dict(type='DualEMAHook', decay=0.5),
                      _SetWeightsHook(raw, ema)],
        default_scope='mlic',
        experiment_name=f'ema_{tmp_path.name}')
    runner.train()
    return runner


@pytest.mark.parametrize('better', ['ema', 'raw'])
def test_best_checkpoint_holds_the_better_model(tmp_path, better):
    raw, ema = (BAD, GOOD) if better == 'ema' else (GOOD, BAD)
    runner = _run(tmp_path, raw, ema)
    hook = next(h for h in runner.hooks if isinstance(h, DualEMAHook))
    assert hook.selected == better
    scalars = runner.message_hub.log_scalars
    assert scalars['val/mAP'].current() == 100.0
    assert scalars[f'val/{better}/mAP'].current() == 100.0
    other = 'raw' if better == 'ema' else 'ema'
    assert scalars[f'val/{other}/mAP'].current() < 100.0
    ckpt = read_checkpoint(osp.join(str(tmp_path), 'best_mAP_epoch_1.pth'))
    torch.testing.assert_close(ckpt['state_dict']['w'], GOOD)
    assert ckpt['meta']['eval_weights'] == better
    if better == 'ema':
        torch.testing.assert_close(ckpt['raw_state_dict']['w'], BAD)
    else:
        assert 'raw_state_dict' not in ckpt
    torch.testing.assert_close(ckpt['ema_state_dict']['module.w'], ema)
    # Resume: the raw weights go back into the model, the average into EMA.
    fake = SimpleNamespace(_resume=True)
    hook.ema_model.module.w.data.zero_()
    hook.after_load_checkpoint(fake, ckpt)
    torch.testing.assert_close(ckpt['state_dict']['w'], raw)
    torch.testing.assert_close(hook.ema_model.module.w, ema)
    assert hook.selected == better


@pytest.mark.parametrize('fp16,bf16_cpu', [(False, True), (True, True),
                                           (True, False)])
def test_both_models_validate_in_the_loops_precision(tmp_path, monkeypatch,
                                                     fp16, bf16_cpu):
    """val_cfg.fp16 (the paper schedule's): the raw and the EMA pass
    both run under autocast (bf16 on a CPU); without it neither does, nor
    on a CPU without bf16 instructions (float32 there, announced)."""
    from mlic.engine import MLICRunner, cpu, policy
    monkeypatch.setattr(cpu, 'cpu_has_native_bf16', lambda: bf16_cpu)
    _ScoreModel.autocast_seen.clear()
    # the loop config as the run set-up resolves it for this machine
    val_cfg = policy.eval_loop_cfg(dict(type='DualValLoop', fp16=fp16))
    runner = _run(tmp_path, BAD, GOOD, val_cfg=val_cfg,
                  runner_type=MLICRunner)
    on = fp16 and (bf16_cpu or not cpu.is_cpu_only())
    assert _ScoreModel.autocast_seen == [on] * 4  # 2 batches x 2 models
    hook = next(h for h in runner.hooks if isinstance(h, DualEMAHook))
    assert hook.selected == 'ema'
    assert runner.message_hub.log_scalars['val/mAP'].current() == 100.0


def test_without_ema_hook_it_is_a_plain_val_loop(tmp_path):
    register_all_modules()
    loader = dict(dataset=_ToyData(), batch_size=4, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='pseudo_collate'))
    model = MODELS.build(dict(type='_ScoreModel'))
    with torch.no_grad():
        model.w.copy_(GOOD)
    runner = Runner(model=model, work_dir=str(tmp_path),
                    val_dataloader=loader, val_cfg=dict(type='DualValLoop'),
                    val_evaluator=dict(type='MLICMetric'),
                    default_scope='mlic', experiment_name='plain_val')
    metrics = runner.val()
    assert metrics['mAP'] == 100.0
    assert not any(k.startswith(('raw/', 'ema/')) for k in metrics)
    assert np.isfinite(metrics['CF1'])


# --- DualValLoop evaluates a BatchNorm-folded copy of each model ----------
BN_MEAN = torch.tensor([0.3, -0.2])
BN_VAR = torch.tensor([4.0, 0.25])  # scale 1/2 and 2: a fold that shows


@MODELS.register_module(force=True)
class _ConvBNScoreModel(_ScoreModel):
    """Scores = BN(conv(x)) per class: the ranking of conv(x)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(2)

    def logits(self, x):
        return self.bn(self.conv(x.view(-1, 2, 1, 1))).view(-1, 2)

    def set_test_weights(self, w):
        self.conv.weight.copy_(w.view(2, 2, 1, 1))
        self.bn.running_mean.copy_(BN_MEAN)
        self.bn.running_var.copy_(BN_VAR)


def _run_conv_bn(tmp_path, fold_bn, raw, ema):
    return _run(tmp_path, raw, ema, model='_ConvBNScoreModel',
                val_cfg=dict(type='DualValLoop', fold_bn=fold_bn))


def test_both_passes_evaluate_their_own_folded_weights(
        tmp_path, monkeypatch):
    """Raw pass: a copy folded from the raw weights; EMA pass: from the
    average; the metrics those of the unfolded models; afterwards the
    model, the EMA swap-back and the best checkpoint see the real
    (unfolded) modules."""
    from mlic.models import batchnorm_folding
    calls = []
    real = batchnorm_folding.fold_batchnorm_for_batch

    def spy(model, data_batch, logger_print=print):
        folded, report = real(model, data_batch, logger_print)
        calls.append((model.conv.weight.detach().clone().view(2, 2),
                      folded, report))
        return folded, report

    monkeypatch.setattr(batchnorm_folding, 'fold_batchnorm_for_batch', spy)
    raw, ema = torch.tensor([[3., 1.], [1., 3.]]), BAD
    runner = _run_conv_bn(tmp_path / 'fold', True, raw, ema)
    assert len(calls) == 2  # one per pass, not one per batch
    scale = 1.0 / torch.sqrt(BN_VAR + 1e-5)
    for (seen, folded, report), want in zip(calls, (raw, ema)):
        torch.testing.assert_close(seen, want)
        assert report.used and report.folded == ['bn']
        assert isinstance(folded.bn, nn.Identity)
        torch.testing.assert_close(folded.conv.weight.view(2, 2),
                                   want * scale[:, None])
        torch.testing.assert_close(folded.conv.bias, -BN_MEAN * scale)
    folded_metrics = {k: v.current() for k, v in
                      runner.message_hub.log_scalars.items()
                      if k.startswith('val/') and 'time' not in k}
    assert isinstance(runner.model.bn, nn.BatchNorm2d)
    torch.testing.assert_close(runner.model.conv.weight.view(2, 2), raw)
    ckpt = read_checkpoint(osp.join(str(tmp_path / 'fold'),
                                    'best_mAP_epoch_1.pth'))
    assert 'bn.running_mean' in ckpt['state_dict']
    torch.testing.assert_close(ckpt['state_dict']['conv.weight'].view(2, 2),
                               raw)

    plain = _run_conv_bn(tmp_path / 'plain', False, raw, ema)
    plain_metrics = {k: v.current() for k, v in
                     plain.message_hub.log_scalars.items()
                     if k.startswith('val/') and 'time' not in k}
    assert len(calls) == 2  # fold_bn=False: never called
    assert folded_metrics.keys() == plain_metrics.keys()
    for k, v in plain_metrics.items():
        assert folded_metrics[k] == pytest.approx(v, abs=1e-9), k
    assert folded_metrics['val/raw/mAP'] == 100.0
    assert folded_metrics['val/ema/mAP'] < 100.0
