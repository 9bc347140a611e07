"""What the tools write survives a kill, and what they are given is
checked before any work: infer.py, test.py, vis_attention.py,
export_onnx.py."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import cv2
import pytest
import torch

from conftest import REPO, load_tool, run_tool, write_random_images
from mlic.datasets import SHAPE_CLASSES

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

TINY_Q2L = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    """The tiny demo model with random weights, saved as a checkpoint that
    names its classes; a folder of 12 images; a config that sleeps 0.3 s
    per image (time to kill a run half-way)."""
    from mlic.apis import MultiLabelInferencer
    root = tmp_path_factory.mktemp('model')
    torch.manual_seed(0)
    net = MultiLabelInferencer(TINY_Q2L, device='cpu').model
    ckpt = str(root / 'model.pth')
    torch.save(dict(state_dict=net.state_dict(),
                    meta=dict(dataset_meta=dict(classes=SHAPE_CLASSES))),
               ckpt)
    images = write_random_images(root / 'images',
                                 [f'{k:02d}.png' for k in range(12)])
    slow = root / 'slow.py'
    slow.write_text(
        f'_base_ = [{TINY_Q2L!r}]\n'
        "custom_imports = dict(imports=['plugins_for_tests'])\n"
        'test_dataloader = dict(dataset=dict(pipeline=[\n'
        "    dict(type='LoadImageChecked'), dict(type='Sleep', seconds=0.3),\n"
        "    dict(type='Resize', scale=(32, 32)),\n"
        "    dict(type='PackInputs')]))\n")
    return dict(root=root, ckpt=ckpt, images=images, slow=str(slow))


def _lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_infer_killed_half_way_leaves_a_partial_file_and_resumes(
        model, tmp_path, monkeypatch):
    """SIGKILL while infer.py writes: the earlier complete file is intact,
    the partial one is named .partial (never the final name), --resume
    finishes it with the same predictions as a run without a kill."""
    out = tmp_path / 'pred.jsonl'
    out.write_text('{"earlier": "complete"}\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, osp.join(REPO, 'tests', 'data')]), OMP_NUM_THREADS='1')
    cmd = [sys.executable, osp.join(REPO, 'tools', 'infer.py'),
           model['slow'], model['ckpt'], model['images'], '--out', str(out),
           '--batch-size', '2', '--device', 'cpu']
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    partial = tmp_path / 'pred.jsonl.partial'
    deadline = time.time() + 120
    while time.time() < deadline and (not partial.exists() or
                                      len(partial.read_text()
                                          .splitlines()) < 4):
        time.sleep(0.05)
    monkeypatch.syspath_prepend(osp.join(REPO, 'tests', 'data'))
    # while it lives, a second run on that --out is refused, --resume too
    from mlic.apis.tagging import OutputInUseError, RunMismatchError
    infer = load_tool('infer')
    for extra in ([], ['--resume']):
        with pytest.raises(OutputInUseError,
                           match=f'process {proc.pid} on host'):
            infer.main([TINY_Q2L] + cmd[3:] + extra)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert out.read_text() == '{"earlier": "complete"}\n'
    done = len(partial.read_text().splitlines())
    assert 4 <= done < 12
    with open(partial, 'a') as f:
        f.write('{"img_path": "cut by the ki')  # a line the kill cut
    # without --resume the unfinished run is not overwritten
    from mlic.apis.tagging import ResultFileError
    with pytest.raises(ResultFileError, match='--resume'):
        infer.main([TINY_Q2L] + cmd[3:])
    # another run's --resume (thresholds, output layout, inputs) is refused
    one_more = osp.join(model['images'], '00.png')
    for args, what in ((cmd[3:] + ['--thr', '0.3'], 'thresholds'),
                       (cmd[3:] + ['--only-predicted'], 'only_predicted'),
                       (cmd[3:5] + [one_more] + cmd[5:], 'inputs')):
        with pytest.raises(RunMismatchError, match=what):
            infer.main([model['slow']] + args + ['--resume'])
    assert len(partial.read_text().splitlines()) == done + 1
    res = run_tool(['tools/infer.py', model['slow']] + cmd[3:] + ['--resume'],
                   cwd=tmp_path)
    assert f'{done} images already in' in res.stderr
    assert not partial.exists()
    resumed = _lines(out)
    expected = infer.main([TINY_Q2L, model['ckpt'], model['images'],
                           '--device', 'cpu'])
    assert [r['img_path'] for r in resumed] == \
        [r['img_path'] for r in expected]
    for a, b in zip(resumed, expected):
        assert a['scores'] == pytest.approx(b['scores'], abs=1e-6)


def test_infer_exit_codes_and_inputs_that_are_not_images(model, tmp_path,
                                                          capsys):
    infer = [TINY_Q2L, model['ckpt']]
    tool = load_tool('infer')
    with pytest.raises(SystemExit) as stop:
        tool.main(infer + [model['images'], str(tmp_path / 'misspelt.jpg'),
                           '--out', str(tmp_path / 'p.jsonl')])
    assert stop.value.code == 2 and 'misspelt.jpg' in capsys.readouterr().err
    assert not (tmp_path / 'p.jsonl').exists()  # nothing was run
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'broken.jpg').write_bytes(b'not a jpeg')
    os.mkfifo(bad / 'pipe.jpg')  # named like an image: never read
    os.symlink('/dev/zero', bad / 'zero.jpg')
    res = run_tool(['tools/infer.py'] + infer + [
        str(bad), str(bad / 'pipe.jpg'), '--out', str(tmp_path / 'p.jsonl')],
        cwd=tmp_path, check=False, timeout=120)
    assert res.returncode == 1 and 'no image was predicted' in res.stderr
    assert 'pipe.jpg: is a FIFO' in res.stderr
    assert 'broken.jpg' in res.stderr
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    from mlic.fileio import OutputPathError
    with pytest.raises(OutputPathError, match='cannot create the folder'):
        tool.main(infer + [model['images'], '--out',
                           str(blocker / 'p.jsonl')])


def test_test_py_checks_its_outputs_before_scoring(model, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    from mlic.fileio import OutputPathError
    with pytest.raises(OutputPathError, match='--out .*cannot create'):
        load_tool('test').main([TINY_Q2L, model['ckpt'], '--work-dir',
                                str(tmp_path), '--out',
                                str(blocker / 'p.npz')])
    with pytest.raises(SystemExit):
        load_tool('test').main([TINY_Q2L, model['ckpt'], '--out', 'p.pkl'])


def test_vis_attention_names_each_output_and_skips_bad_images(model,
                                                              tmp_path):
    for sub in ('x', 'y'):
        (tmp_path / sub).mkdir()
    img = cv2.imread(osp.join(model['images'], '00.png'))
    cv2.imwrite(str(tmp_path / 'x' / 'photo.jpg'), img)
    cv2.imwrite(str(tmp_path / 'y' / 'photo.jpg'), img[:, ::-1])
    cv2.imwrite(str(tmp_path / 'y' / 'photo.png'), img[::-1])
    (tmp_path / 'y' / 'broken.png').write_bytes(b'no')
    out = tmp_path / 'out'
    written = load_tool('visualization/vis_attention').main(
        [TINY_Q2L, model['ckpt'], str(tmp_path / 'x' / 'photo.jpg'),
         str(tmp_path / 'y'), '--out-dir', str(out)])
    names = sorted(osp.relpath(p, out) for p in written)
    assert names == ['x/photo.png', 'y/photo.jpg.png', 'y/photo.png.png']
    assert all(osp.getsize(p) > 1000 for p in written)


def test_export_onnx_checks_opset_and_shape_and_verifies_at_its_shape(
        model, tmp_path):
    export = load_tool('deployment/export_onnx')
    out = str(tmp_path / 'm.onnx')
    for bad in (['--opset', '7'], ['--opset', '99'], ['--shape', '0', '64']):
        with pytest.raises(SystemExit):
            export.main([TINY_Q2L, model['ckpt'], '--out', out] + bad)
    def swin_like(x):  # a backbone that needs multiples of its window
        raise RuntimeError('shape [1, 3, 9, 9] is invalid for input of '
                           'size 243\n(a long trace follows)')
    with pytest.raises(ValueError, match=r'--shape 9 9: the model cannot '
                       r'take this input size \(RuntimeError: shape'):
        export.check_shape(swin_like, (9, 9))
    assert not osp.exists(out)
    image = osp.join(model['images'], '03.png')
    report = export.main([TINY_Q2L, model['ckpt'], '--out', out, '--shape',
                          '48', '64', '--verify', image])
    assert report[f'image {image}'] < 1e-4


def test_infer_at_a_file_size_limit_names_the_file_and_resumes(model,
                                                               tmp_path):
    """``ulimit -f 2`` (2 KiB): the output cannot hold 12 images; the error
    names the .partial file and how many predictions it keeps, and
    --resume finishes it once the limit is lifted."""
    out = tmp_path / 'p.jsonl'
    args = [osp.join(REPO, 'tools', 'infer.py'), TINY_Q2L, model['ckpt'],
            model['images'], '--out', str(out), '--device', 'cpu',
            '--batch-size', '2']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    res = subprocess.run(['bash', '-c', f'ulimit -f 2; exec {sys.executable}'
                          ' "$@"', 'infer'] + args, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert 'p.jsonl.partial reached the largest file this process may ' \
        'write' in res.stderr, res.stderr[-3000:]
    import re
    kept = int(re.search(r'At least the (\d+) predictions before this '
                         r'batch are in', res.stderr).group(1))
    assert 0 < kept < 12
    res = run_tool(['tools/infer.py'] + args[1:] + ['--resume'],
                   cwd=tmp_path)
    done = int(re.search(r'--resume: (\d+) images already in',
                         res.stderr).group(1))
    assert kept <= done <= kept + 2  # a whole line of the cut batch kept
    assert len(_lines(out)) == 12
