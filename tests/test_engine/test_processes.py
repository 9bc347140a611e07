"""Processes that share a machine: one training per work dir, loader
workers that end with their parent."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, TINY_CFG, load_tool
from mlic.engine.work_dir_lock import (LOCK_NAME, WorkDirInUseError,
                                       WorkDirLock)

HOLD = ('import sys, time\n'
        'from mlic.engine.work_dir_lock import WorkDirLock\n'
        'lock = WorkDirLock(sys.argv[1]).acquire()\n'
        'print("holding", flush=True)\n'
        'time.sleep(120)\n')


def _holder(work):
    proc = subprocess.Popen([sys.executable, '-c', HOLD, str(work)],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.stdout.readline().strip() == 'holding'
    return proc


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie (exited, not yet reaped) counts as gone
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(') ')[1].startswith('Z')
    except OSError:
        return True


def test_a_live_run_holds_the_work_dir_until_it_dies(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(WorkDirInUseError) as err:
            WorkDirLock(str(tmp_path)).acquire()
        msg = str(err.value)
        assert f'process {proc.pid} on host' in msg and '--work-dir' in msg
    finally:
        proc.send_signal(signal.SIGKILL)  # as the OOM killer would
        proc.wait(timeout=30)
    # the kernel released the lock with the process: no stale lock
    with WorkDirLock(str(tmp_path)) as lock:
        assert lock.held
        assert str(os.getpid()) in (tmp_path / LOCK_NAME).read_text()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_that_is_a_link_is_refused_not_written_through(tmp_path):
    """A .mlic-train.lock planted as a link to a file the user can write:
    the lock is refused with what to do, the target keeps its bytes."""
    from mlic.fileio.locks import NotARegularFileError
    victim = tmp_path / 'notes.txt'
    victim.write_text('precious\n')
    work = tmp_path / 'work'
    work.mkdir()
    os.symlink(victim, work / LOCK_NAME)
    with pytest.raises(NotARegularFileError, match='is a symbolic link .*'
                       'not followed. Remove the link'):
        WorkDirLock(str(work)).acquire()
    assert victim.read_text() == 'precious\n'
    assert os.path.islink(work / LOCK_NAME)
    (work / LOCK_NAME).unlink()
    os.mkfifo(work / LOCK_NAME)  # nor a FIFO (the open must not block)
    with pytest.raises(NotARegularFileError, match='not a regular file'):
        WorkDirLock(str(work)).acquire()


def test_a_second_training_in_a_busy_work_dir_is_refused(tmp_path):
    """The second run stops before it touches the first run's files (its
    checkpoint being written, named .tmp-<live pid>-...)."""
    work = tmp_path / 'work'
    proc = _holder(work)
    in_flight = work / f'.tmp-{proc.pid}-epoch_1.pth'
    in_flight.write_bytes(b'being written by the first run')
    try:
        with pytest.raises(WorkDirInUseError, match=f'process {proc.pid}'):
            load_tool('train').main([TINY_CFG, '--work-dir', str(work),
                                     '--cfg-options', 'train_cfg.max_epochs=1'])
        assert in_flight.read_bytes() == b'being written by the first run'
        assert not (work / 'epoch_1.pth').exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


WORKERS = r'''
import os, sys, time
import torch
from torch.utils.data import DataLoader
from mlic.utils.child_processes import tie_workers_to_parent

class Pids(torch.utils.data.Dataset):
    def __len__(self):
        return 4
    def __getitem__(self, i):
        return os.getpid()

loader = tie_workers_to_parent(DataLoader(
    Pids(), batch_size=1, num_workers=2, persistent_workers=True))
pids = sorted({int(b) for b in loader})
print(' '.join(map(str, pids)), flush=True)
time.sleep(120)
'''


@pytest.mark.slow
def test_persistent_workers_end_with_a_killed_parent():
    """SIGKILL of the training process (preemption, the OOM killer): its
    persistent DataLoader workers, idle on a pipe, end too."""
    proc = subprocess.Popen([sys.executable, '-c', WORKERS],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO))
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert len(workers) == 2 and proc.pid not in workers
    assert not any(_gone(w) for w in workers)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and not all(_gone(w) for w in workers):
        time.sleep(0.2)
    assert all(_gone(w) for w in workers)


def test_the_runner_ties_its_loaders_workers_to_it():
    from mlic.engine import MLICRunner
    from mlic.utils import load_config, register_all_modules
    from mlic.utils.child_processes import EndWithParent
    register_all_modules()
    cfg = load_config(TINY_CFG)
    train = dict(cfg.train_dataloader, num_workers=2,
                 persistent_workers=True)
    loader = MLICRunner.build_dataloader(train, seed=0)
    assert isinstance(loader.worker_init_fn, EndWithParent)
    assert loader.worker_init_fn.parent_pid == os.getpid()
    val = dict(cfg.val_dataloader, num_workers=1)
    assert isinstance(MLICRunner.build_dataloader(val).worker_init_fn,
                      EndWithParent)
