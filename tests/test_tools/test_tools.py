"""The tools, run as a user runs them (subprocesses), on tiny data."""
import glob
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, TINY_CFG, free_port, load_tool, run_tool
from mlic.evaluation import load_predictions

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

HEADER = ['mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1']


def parse_metrics(stdout):
    """The two-line table test.py prints last."""
    lines = stdout.strip().splitlines()
    for i, line in enumerate(lines):
        if line.split() == HEADER:
            return dict(zip(HEADER, map(float, lines[i + 1].split())))
    raise AssertionError(f'no metrics table in:\n{stdout[-2000:]}')


def write_cfg(path, body):
    with open(path, 'w') as f:
        f.write(f'_base_ = [{TINY_CFG!r}]\n' + body)
    return str(path)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One tiny training run whose checkpoints several tests use."""
    work = tmp_path_factory.mktemp('train')
    run_tool(['tools/train.py', TINY_CFG, '--work-dir', str(work)], cwd=work)
    return work


def test_train_writes_checkpoints_and_test_reads_them(trained, tmp_path):
    files = os.listdir(trained)
    assert {'epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth'} <= set(files)
    best = [f for f in files if f.startswith('best_mAP_epoch_')]
    assert len(best) == 1
    out = tmp_path / 'preds.npz'
    res_best = run_tool(['tools/test.py', TINY_CFG, str(trained / best[0]),
                         '--work-dir', str(tmp_path), '--out', str(out),
                         '--per-class'], cwd=tmp_path)
    metrics = parse_metrics(res_best.stdout)
    assert 0 <= metrics['mAP'] <= 100
    assert 'crescent' in res_best.stdout + res_best.stderr  # per-class table
    dumped = load_predictions(str(out))
    assert dumped['scores'].shape == (13, 12)
    assert sorted(dumped['img_ids']) == list(range(1, 14))
    from mlic.evaluation import multilabel_metrics
    again = multilabel_metrics(dumped['scores'], dumped['targets'])
    assert again['mAP'] == pytest.approx(metrics['mAP'], abs=0.006)
    res_last = run_tool(['tools/test.py', TINY_CFG,
                         str(trained / 'epoch_3.pth'), '--work-dir',
                         str(tmp_path)], cwd=tmp_path)
    parse_metrics(res_last.stdout)


def _state(path):
    from mlic.engine import read_checkpoint
    return read_checkpoint(str(path))


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    body = ("custom_imports = dict(imports=['plugins_for_tests'])\n"
            "custom_hooks = [dict(type='NumClassCheckHook'),\n"
            "    dict(type='EMAHook', momentum=0.2, update_buffers=True),\n"
            "    dict(type='SlowDownHook', seconds=%s, from_epoch=1)]\n")
    ref_cfg = write_cfg(tmp_path / 'ref.py', body % 0)
    cfg = write_cfg(tmp_path / 'slow.py', body % 0.4)
    ref_dir, dir_ = tmp_path / 'ref', tmp_path / 'run'
    run_tool(['tools/train.py', ref_cfg, '--work-dir', str(ref_dir)],
             cwd=tmp_path)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, osp.join(REPO, 'tests', 'data')]), OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools/train.py'), cfg,
         '--work-dir', str(dir_)], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = dir_ / 'last_checkpoint'
    deadline = time.time() + 300
    while time.time() < deadline:
        if marker.exists() and marker.read_text().endswith('epoch_1.pth'):
            break
        assert proc.poll() is None, 'training ended before it could be killed'
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (dir_ / 'epoch_3.pth').exists()

    res = run_tool(['tools/train.py', cfg, '--work-dir', str(dir_),
                    '--resume'], cwd=tmp_path)
    log = res.stdout + res.stderr
    assert 'resumed epoch: 1' in log.replace('Epoch', 'epoch')
    ref, got = _state(ref_dir / 'epoch_3.pth'), _state(dir_ / 'epoch_3.pth')
    assert got['meta']['epoch'] == 3 and got['meta']['iter'] == ref['meta'][
        'iter']
    for key, value in ref['state_dict'].items():
        torch.testing.assert_close(got['state_dict'][key], value,
                                   rtol=1e-5, atol=1e-6, msg=key)
    for key, value in ref['ema_state_dict'].items():
        torch.testing.assert_close(got['ema_state_dict'][key], value,
                                   rtol=1e-5, atol=1e-6, msg=key)
    assert got['param_schedulers'][0]['last_step'] == \
        ref['param_schedulers'][0]['last_step']
    step = lambda s: [v['step'] for v in s['optimizer']['state'].values()]  # noqa
    assert step(got) == step(ref)


@pytest.fixture(scope='module')
def two_processes(tmp_path_factory):
    """dist_train.sh with 2 processes on one node (gloo), one epoch."""
    work = tmp_path_factory.mktemp('one_node')
    run_tool(['tools/dist_train.sh', TINY_CFG, '2', '--work-dir', str(work),
              '--cfg-options', 'train_cfg.max_epochs=1'], cwd=work)
    return work


def test_distributed_train_and_test_on_cpu(trained, two_processes,
                                           tmp_path):
    port = free_port()
    assert (two_processes / 'epoch_1.pth').exists()
    ckpt = str(trained / 'epoch_3.pth')
    single = load_tool('test').main([TINY_CFG, ckpt, '--work-dir',
                                     str(tmp_path / 's')])
    dist = parse_metrics(run_tool(
        ['tools/dist_test.sh', TINY_CFG, ckpt, '2', '--work-dir',
         str(tmp_path / 'd')], cwd=tmp_path, env=dict(PORT=port)).stdout)
    for key in HEADER:  # dist's printed 2 decimals against the full value
        assert dist[key] == pytest.approx(single[key], abs=0.0051), key


def test_two_nodes_on_one_machine_train_like_two_processes(tmp_path):
    """NNODES=2 NODE_RANK=0/1 MASTER_ADDR=127.0.0.1, one process each
    (gloo over loopback), gives the weights of 2 processes on one node."""
    port = free_port()
    opts = ['--cfg-options', 'train_cfg.max_epochs=1']
    one = tmp_path / 'one_node'
    run_tool(['tools/dist_train.sh', TINY_CFG, '2', '--work-dir', str(one)]
             + opts, cwd=tmp_path, env=dict(PORT=port))
    two = tmp_path / 'two_nodes'
    env = dict(os.environ, PYTHON=sys.executable, PORT=port, NNODES='2',
               MASTER_ADDR='127.0.0.1', OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, osp.join(REPO, 'tests',
                                                          'data')]))
    cmd = ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), TINY_CFG, '1',
           '--work-dir', str(two)] + opts
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=dict(env, NODE_RANK=r),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in ('0', '1')]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    from mlic.engine import read_checkpoint
    a = read_checkpoint(str(one / 'epoch_1.pth'))['state_dict']
    b = read_checkpoint(str(two / 'epoch_1.pth'))['state_dict']
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_dist_train_says_which_port_is_taken(tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        res = run_tool(['tools/dist_train.sh', TINY_CFG, '2'], cwd=tmp_path,
                       env=dict(PORT=port), check=False, timeout=60)
    assert res.returncode != 0
    assert f'port {port} is in use' in res.stderr
    assert 'PORT=29501 bash' in res.stderr


@pytest.mark.parametrize('script,positional', [
    ('slurm_train.sh', ['part', 'job', 'CFG.py', 'work_dirs/x']),
    ('slurm_test.sh', ['part', 'job', 'CFG.py', 'ckpt.pth']),
])
def test_slurm_scripts_launch_line(tmp_path, script, positional):
    """Dry run with a fake srun that records its command line."""
    fake = tmp_path / 'bin' / 'srun'
    fake.parent.mkdir()
    record = tmp_path / 'srun_args'
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > '
                    f'{record}\n')
    fake.chmod(0o755)
    env = dict(PATH=f'{fake.parent}{os.pathsep}{os.environ["PATH"]}',
               GPUS='4', GPUS_PER_NODE='2', CPUS_PER_TASK='3',
               SRUN_ARGS='--qos=low')
    run_tool([f'tools/{script}'] + positional +
             ['--cfg-options', 'train_cfg.max_epochs=1'], cwd=tmp_path,
             env=env)
    args = record.read_text().splitlines()
    tool = 'train.py' if 'train' in script else 'test.py'
    launched = osp.join('tools', tool)
    i = next(k for k, a in enumerate(args) if a.endswith(launched))
    assert args[:i - 2] == ['-p', 'part', '--job-name=job', '--gres=gpu:2',
                            '--ntasks=4', '--ntasks-per-node=2',
                            '--cpus-per-task=3', '--kill-on-bad-exit=1',
                            '--qos=low']
    assert args[i - 2:i] == [sys.executable, '-u']
    tool_args = args[i + 1:]
    expected = (['CFG.py', '--work-dir=work_dirs/x'] if tool == 'train.py'
                else ['CFG.py', 'ckpt.pth'])
    assert tool_args == expected + ['--cfg-options',
                                    'train_cfg.max_epochs=1',
                                    '--launcher=slurm']
    # the tool accepts exactly that command line
    from conftest import load_tool
    parsed = load_tool(tool[:-3]).parse_args(tool_args)
    assert parsed.launcher == 'slurm'


def test_user_component_through_custom_imports(tmp_path):
    """A user's own folder, outside the repository: a module and a config
    that inherits the installed mlic's configs ('mlic::') and imports the
    module beside it. train.py, test.py and infer.py take it with no
    PYTHONPATH and no path into the repository."""
    project = tmp_path / 'my_project'
    project.mkdir()
    examples = osp.join(REPO, 'docs', 'examples')
    shutil.copy(osp.join(examples, 'my_backbone.py'), project)
    tiny = ("dict(image_size=32, num_images=dict(train=32, val=13), "
            "pipeline=[dict(type='LoadImageChecked'), dict(type='Resize', "
            "scale=(32, 32)), dict(type='PackInputs')])")
    cfg = project / 'custom.py'
    cfg.write_text(
        open(osp.join(examples, 'shapes_my_backbone.py')).read() +
        "model = dict(backbone=dict(_delete_=True, type='TinyConvNet', "
        "widths=(8, 16)), head=dict(in_channels=16))\n"
        f'train_dataloader = dict(batch_size=8, num_workers=0, dataset={tiny})\n'
        f'val_dataloader = dict(batch_size=8, num_workers=0, dataset={tiny})\n'
        'test_dataloader = val_dataloader\n'
        'train_cfg = dict(max_epochs=1)\n')
    assert 'mlic::' in cfg.read_text()
    bare = dict(PYTHONPATH='')  # only the installed mlic
    res = run_tool(['tools/train.py', str(cfg), '--work-dir',
                    str(tmp_path / 'w')], cwd=tmp_path, env=bare)
    assert (tmp_path / 'w' / 'epoch_1.pth').exists()
    assert 'TinyConvNet' in (tmp_path / 'w' / 'custom.py').read_text()
    # the model was built with the user's backbone: its own parameters
    from mlic.engine import read_checkpoint
    keys = read_checkpoint(str(tmp_path / 'w' / 'epoch_1.pth'))['state_dict']
    assert any(k.startswith('backbone.body.') for k in keys)
    assert 'Run: custom.py' in res.stdout + res.stderr
    # test.py and infer.py in this process, whose path does not hold the
    # user's folder either: the config's folder is searched for its imports
    assert str(project) not in sys.path
    metrics = load_tool('test').main([str(cfg), str(tmp_path / 'w' /
                                                    'epoch_1.pth'),
                                      '--per-class'])
    assert 0 <= metrics['mAP'] <= 100
    # test.py's one rule: its files go beside the checkpoint
    assert (tmp_path / 'w' / 'per_class_ap_epoch_1.csv').exists()
    assert not (tmp_path / 'w' / 'per_class_ap.csv').exists()
    image = glob.glob(osp.join(
        os.environ['MLIC_DATA_CACHE'], '*32px*', 'val', '*.jpg'))[0]
    results = load_tool('infer').main([str(cfg), str(tmp_path / 'w' /
                                                     'epoch_1.pth'), image])
    assert len(results) == 1 and results[0]['img_path'] == image


def test_amp_on_cpu_uses_bfloat16(tmp_path, capsys):
    load_tool('train').main([TINY_CFG, '--amp', '--work-dir',
                             str(tmp_path / 'w'), '--cfg-options',
                             'train_cfg.max_epochs=1'])
    out = capsys.readouterr().out
    # bf16 autocast where the CPU has bf16 instructions, float32 otherwise;
    # either way the run set-up says so
    assert 'bfloat16 autocast' in out or 'training in float32' in out
    assert (tmp_path / 'w' / 'epoch_1.pth').exists()


@pytest.mark.parametrize('args,message', [
    (['--cfg-options', 'model.head.num_classes=5',
      'data_preprocessor.num_classes=5'],
     r'num_classes=5 but the train dataset \(ShapesMultiLabel\) has 12'),
    (['--cfg-options', 'model.head.num_classes=5'],
     r'model.head.num_classes=5 but data_preprocessor.num_classes=12 .*'
     r'Set both'),
    (['--cfg-options', 'default_hooks.checkpoint.max_keep_ckpt=1'],
     r"unknown argument\(s\) 'max_keep_ckpt' \(did you mean "
     r"'max_keep_ckpts'\?\)"),
    (['--cfg-options', 'model.backbone.depht=18'],
     r'ResNet.*unexpected keyword argument .depht.'),
    (['--cfg-options', 'load_from=/no/such/file.pth'],
     r'checkpoint given as load_from not found: /no/such/file.pth'),
    (['--resume', '/no/such/ckpt.pth'],
     r'--resume not found: /no/such/ckpt.pth'),
])
def test_train_bad_input(tmp_path, args, message):
    """Each mistake stops train.py before anything is trained, with the
    message (in-process: the same main() the command runs)."""
    with pytest.raises(Exception) as err:
        load_tool('train').main([TINY_CFG, '--work-dir', str(tmp_path / 'w')]
                                + args)
    text = f'{type(err.value).__name__}: {err.value}'
    assert re.search(message, text), text[-3000:]
    assert not (tmp_path / 'w' / 'epoch_1.pth').exists()


def test_misspelled_config_key_and_missing_files(tmp_path):
    cfg = write_cfg(tmp_path / 'typo.py', 'val_evaluater = dict()\n')
    with pytest.raises(Exception, match="unknown config key 'val_evaluater'"
                       ".*did you mean 'val_evaluator'"):
        load_tool('train').main([cfg, '--work-dir', str(tmp_path / 'w')])
    with pytest.raises(FileNotFoundError, match='checkpoint not found: '
                       + re.escape(str(tmp_path / 'none.pth'))):
        load_tool('test').main([TINY_CFG, str(tmp_path / 'none.pth')])
    with pytest.raises(FileNotFoundError, match='config file not found'):
        load_tool('train').main([str(tmp_path / 'nocfg.py')])
    # as a command, the error reaches the terminal and the exit status
    res = run_tool(['tools/train.py', str(tmp_path / 'nocfg.py')],
                   cwd=tmp_path, check=False)
    assert res.returncode != 0 and 'config file not found' in res.stderr


def test_bad_image_in_training_is_named(tmp_path):
    # Corrupt one image of a private copy of the tiny dataset.
    from mlic.datasets.shapes_generator import ensure_shapes
    cache = tmp_path / 'cache'
    root = ensure_shapes(str(cache), 0, 32, dict(train=32, val=13))
    victim = osp.join(root, 'train', 'train_000004.jpg')
    with open(victim, 'r+b') as f:
        f.truncate(200)
    cfg = write_cfg(tmp_path / 'bad.py', (
        f'train_dataloader = dict(dataset=dict(cache_dir={str(cache)!r}))\n'
        f'val_dataloader = dict(dataset=dict(cache_dir={str(cache)!r}))\n'
        'test_dataloader = val_dataloader\n'))
    from mlic.datasets import BadImageError
    with pytest.raises(BadImageError, match='truncated.*train_000004.jpg|'
                       'train_000004.jpg.*truncated'):
        load_tool('train').main([cfg, '--work-dir', str(tmp_path / 'w')])
