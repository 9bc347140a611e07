"""mlic.fileio: atomic writes, stale temporaries, safe reads, output checks."""
import errno
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from mlic.fileio import atomic as fileio
from mlic.fileio import (DiskFullError, OutputPathError, atomic_write,
                         check_output_dir, check_output_path,
                         read_regular_file, remove_stale_temporaries)

DEAD_PID = 2**22 + 1  # above the largest pid_max Linux allows


def test_atomic_write_keeps_the_old_file_on_an_error(tmp_path):
    path = tmp_path / 'out.json'
    path.write_text('old, complete')
    with pytest.raises(RuntimeError):
        with atomic_write(str(path)) as f:
            f.write('new, half')
            raise RuntimeError('stopped half-way')
    assert path.read_text() == 'old, complete'
    assert os.listdir(tmp_path) == ['out.json']  # no temporary left
    with atomic_write(str(path)) as f:
        f.write('new, complete')
    assert path.read_text() == 'new, complete'


def test_a_killed_writer_leaves_the_old_file_and_a_temporary(tmp_path):
    """SIGKILL half-way: the final name still holds the earlier file; the
    temporary of the dead process is removed by the next run."""
    path = tmp_path / 'pred.jsonl'
    path.write_text('{"earlier": "complete"}\n')
    code = ('import sys, time\n'
            'from mlic.fileio import atomic_write\n'
            'with atomic_write(sys.argv[1]) as f:\n'
            '    f.write("line 1\\n"); f.flush()\n'
            '    print("writing", flush=True); time.sleep(60)\n')
    proc = subprocess.Popen([sys.executable, '-c', code, str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'writing'
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert path.read_text() == '{"earlier": "complete"}\n'
    temps = [n for n in os.listdir(tmp_path) if n.startswith('.tmp-')]
    assert temps == [f'.tmp-{proc.pid}-pred.jsonl']
    assert remove_stale_temporaries(str(tmp_path)) == [
        str(tmp_path / temps[0])]


def test_stale_temporaries_of_live_processes_are_kept(tmp_path):
    live = tmp_path / f'.tmp-{os.getpid()}-epoch_3.pth'
    dead = tmp_path / f'.tmp-{DEAD_PID}-epoch_2.pth'
    other = tmp_path / 'epoch_1.pth'
    for p in (live, dead, other):
        p.write_bytes(b'x')
    assert remove_stale_temporaries(str(tmp_path)) == [str(dead)]
    assert live.exists() and other.exists() and not dead.exists()


def test_a_full_disk_is_named_with_the_space_left(tmp_path, monkeypatch):
    path = tmp_path / 'thr.json'
    path.write_text('{"a": 0.5}')

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    real_open = open

    def full_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return Full(f) if 'w' in mode and '.tmp-' in str(file) else f

    monkeypatch.setattr('builtins.open', full_open)
    with pytest.raises(DiskFullError) as err:
        with atomic_write(str(path)) as f:
            f.write('{"a": 0.25}')
    monkeypatch.undo()
    msg = str(err.value)
    assert str(path) in msg and 'MiB free' in msg and 'intact' in msg
    assert path.read_text() == '{"a": 0.5}'
    assert os.listdir(tmp_path) == ['thr.json']


def test_a_full_disk_in_torch_save_is_named(tmp_path, monkeypatch):
    import torch

    def failing_save(obj, f, *args, **kwargs):
        raise RuntimeError('[enforce fail at inline_container.cc:603] . '
                           'PytorchStreamWriter failed writing file data/0: '
                           'file write failed')
    monkeypatch.setattr(torch, 'save', failing_save)
    monkeypatch.setattr(fileio, '_nearly_full', lambda folder: True)
    with pytest.raises(DiskFullError, match='no space left.*epoch_1.pth'):
        with fileio.atomic_output(str(tmp_path / 'epoch_1.pth')) as tmp:
            torch.save({}, tmp)
    # neither a full disk nor a file-size limit: the error as raised
    monkeypatch.setattr(fileio, '_nearly_full', lambda folder: False)
    monkeypatch.setattr(fileio, '_file_size_limited', lambda: False)
    with pytest.raises(RuntimeError, match='file write failed'):
        with fileio.atomic_output(str(tmp_path / 'epoch_1.pth')) as tmp:
            torch.save({}, tmp)
    monkeypatch.setattr(fileio, '_file_size_limited', lambda: True)
    with pytest.raises(DiskFullError, match='largest file this process'):
        with fileio.atomic_output(str(tmp_path / 'epoch_1.pth')) as tmp:
            torch.save({}, tmp)
    assert os.listdir(tmp_path) == []


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / 'pipe.jpg'
    os.mkfifo(fifo)
    start = time.time()
    with pytest.raises(OSError, match='pipe.jpg: is a FIFO'):
        read_regular_file(str(fifo), what='image file')
    assert time.time() - start < 5  # no wait for a writer
    zero = tmp_path / 'zero.jpg'
    os.symlink('/dev/zero', zero)
    with pytest.raises(OSError, match='zero.jpg: is a device'):
        read_regular_file(str(zero), what='image file')
    big = tmp_path / 'big.png'
    big.write_bytes(b'\0' * 2000)
    with pytest.raises(OSError, match='2000 bytes, over the limit of 1000'):
        read_regular_file(str(big), max_bytes=1000)
    assert read_regular_file(str(big), max_bytes=2000) == b'\0' * 2000
    with pytest.raises(OSError, match='cannot read file .*gone.jpg'):
        read_regular_file(str(tmp_path / 'gone.jpg'))


def test_outputs_are_checked_before_work(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    with pytest.raises(OutputPathError, match='cannot create the folder'):
        check_output_path(str(blocker / 'preds.npz'), '--out')
    with pytest.raises(OutputPathError, match='is a folder'):
        check_output_path(str(tmp_path), '--out')
    with pytest.raises(OutputPathError, match='is a file, not a folder'):
        check_output_dir(str(blocker), '--out-dir')
    assert check_output_path(str(tmp_path / 'new' / 'p.npz')) == \
        osp.abspath(tmp_path / 'new' / 'p.npz')
    assert os.listdir(tmp_path / 'new') == []  # the probe is gone


def test_an_atomic_write_never_follows_a_planted_temporary(tmp_path):
    """The temporary's name is predictable (.tmp-<pid>-<name>): a link
    planted there is replaced by a file of ours, its target untouched."""
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious\n')
    out = tmp_path / 'out.json'
    os.symlink(victim, tmp_path / fileio.temporary_name(str(out)))
    with atomic_write(str(out)) as f:
        f.write('{}')
    assert out.read_text() == '{}' and victim.read_text() == 'precious\n'
