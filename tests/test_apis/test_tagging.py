"""mlic.apis.tagging: the writer of infer.py's outputs - resumed only
by the run that started it, held by one process, no link followed, a full
disk named."""
import errno
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from mlic.apis.tagging import (OutputInUseError, ResultFileError,
                                    ResultWriter, RunMismatchError,
                                    run_identity)
from mlic.fileio import DiskFullError
from mlic.fileio.locks import NotARegularFileError

CLASSES = ['cat', 'dog', 'bird']


def _result(name, s=0.25):
    return dict(img_path=name, scores={c: s for c in CLASSES},
                pred_labels=[], pred_scores=[])


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / 'a.pth'
    path.write_bytes(b'weights of model A')
    return str(path)


def _run(ckpt, items=('x.jpg', 'y.jpg', 'z.jpg'), thr=(0.5, 0.5, 0.5),
         **options):
    options.setdefault('topk', None)
    options.setdefault('only_predicted', False)
    return run_identity(ckpt, 'model = dict()', CLASSES, thr, list(items),
                        **options)


def _half_done(tmp_path, ckpt):
    """A run killed after one image: OUT.partial + OUT.run.json."""
    out = str(tmp_path / 'p.jsonl')
    writer = ResultWriter(out, CLASSES, run=_run(ckpt))
    writer.write([_result('x.jpg')])
    writer.close()
    return out


def test_resume_by_the_same_run_continues(tmp_path, ckpt):
    out = _half_done(tmp_path, ckpt)
    writer = ResultWriter(out, CLASSES, resume=True, run=_run(ckpt))
    assert writer.done == {'x.jpg'}
    writer.write([_result('y.jpg'), _result('z.jpg')])
    writer.finish()
    with open(out) as f:
        assert [json.loads(line)['img_path'] for line in f] == \
            ['x.jpg', 'y.jpg', 'z.jpg']
    # the complete file keeps its record: extending it is checked too
    assert json.load(open(out + '.run.json'))['num_inputs'] == 3
    with pytest.raises(RunMismatchError, match='thresholds'):
        ResultWriter(out, CLASSES, resume=True,
                     run=_run(ckpt, thr=(0.5, 0.3, 0.5)))


@pytest.mark.parametrize('change, message', [
    ('checkpoint', r"checkpoint: a.pth \(sha256 [0-9a-f]{12}\) vs b.pth"),
    ('thresholds', r"thresholds: class 'dog' 0.5 vs 0.3"),
    ('inputs', r'inputs: 3 images vs 4 now'),
    ('order', r'inputs: 3 images vs 3 now'),
    ('only_predicted', r"only_predicted: False vs True"),
    ('topk', r'topk: None vs 2'),
])
def test_resume_by_another_run_is_refused_with_what_differs(
        tmp_path, ckpt, change, message):
    out = _half_done(tmp_path, ckpt)
    before = open(out + '.partial').read()
    other = tmp_path / 'b.pth'
    other.write_bytes(b'weights of model B')
    run = {
        'checkpoint': lambda: _run(str(other)),
        'thresholds': lambda: _run(ckpt, thr=(0.5, 0.3, 0.5)),
        'inputs': lambda: _run(ckpt, items=('x.jpg', 'y.jpg', 'z.jpg',
                                            'w.jpg')),
        'order': lambda: _run(ckpt, items=('z.jpg', 'y.jpg', 'x.jpg')),
        'only_predicted': lambda: _run(ckpt, only_predicted=True),
        'topk': lambda: _run(ckpt, topk=2),
    }[change]()
    with pytest.raises(RunMismatchError, match=message):
        ResultWriter(out, CLASSES, resume=True, run=run)
    assert open(out + '.partial').read() == before  # nothing touched
    assert not os.path.exists(out + '.lock')  # and the lock released


def test_a_partial_without_its_run_record_is_not_resumed(tmp_path, ckpt):
    out = _half_done(tmp_path, ckpt)
    os.remove(out + '.run.json')
    with pytest.raises(RunMismatchError, match='no .*run.json saying which '
                       'model'):
        ResultWriter(out, CLASSES, resume=True, run=_run(ckpt))


HOLDER = '''
import sys, time
sys.path[:0] = [{repo!r}]
from mlic.apis.tagging import ResultWriter
w = ResultWriter(sys.argv[1], ['cat', 'dog', 'bird'])
print('ready', flush=True)
time.sleep(60)
'''


def test_a_live_writer_holds_its_output(tmp_path):
    """A second writer on the same output - resuming or not - is refused
    while the first lives, naming it; after the first dies (SIGKILL), the
    output is free and resumes."""
    out = str(tmp_path / 'p.jsonl')
    proc = subprocess.Popen(
        [sys.executable, '-c', HOLDER.format(repo=REPO), out],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'ready'
        for resume in (False, True):
            with pytest.raises(OutputInUseError,
                               match=f'the output {out} is in use by another '
                               f'process: process {proc.pid} on host'):
                ResultWriter(out, CLASSES, resume=resume)
    finally:
        proc.kill()
        proc.wait()
    writer = ResultWriter(out, CLASSES, resume=True)
    writer.finish()


def test_fixed_names_that_are_links_are_refused_not_followed(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious\n')
    for suffix in ('.lock', '.partial'):
        out = str(tmp_path / f'p{suffix.replace(".", "_")}.jsonl')
        os.symlink(victim, out + suffix)
        with pytest.raises((NotARegularFileError, ResultFileError)) as err:
            ResultWriter(out, CLASSES, resume=True)
        assert 'symbolic link' in str(err.value) or '.partial' in \
            str(err.value)
        assert victim.read_text() == 'precious\n'
        assert os.path.islink(out + suffix)


def test_a_full_disk_names_the_file_and_keeps_what_was_written(
        tmp_path, ckpt, monkeypatch):
    out = _half_done(tmp_path, ckpt)
    writer = ResultWriter(out, CLASSES, resume=True, run=_run(ckpt))

    def full(data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer._file, 'write', full)
    with pytest.raises(DiskFullError, match=r'no space left on the device '
                       r'while writing .*p.jsonl.partial .*At least the 1 '
                       r'predictions before this batch are in'):
        writer.write([_result('y.jpg')])
    writer.close()
    writer = ResultWriter(out, CLASSES, resume=True, run=_run(ckpt))
    assert writer.done == {'x.jpg'}
    writer.close()
