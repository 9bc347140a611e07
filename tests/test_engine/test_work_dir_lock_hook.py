"""WorkDirLockHook: holds the work dir from before_train to after_train,
removes the temporaries of dead processes only, and is independent of
checkpointing."""
import os
from types import SimpleNamespace

import pytest

from mlic.engine.hooks import WorkDirLockHook
from mlic.engine.work_dir_lock import (LOCK_NAME, WorkDirInUseError,
                                       WorkDirLock)


class _Logger:
    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(message)


def test_held_during_training_and_released_after(tmp_path):
    dead = tmp_path / '.tmp-999999999-epoch_3.pth'  # no such process
    dead.write_bytes(b'half')
    mine = tmp_path / f'.tmp-{os.getpid()}-epoch_4.pth'  # a live one
    mine.write_bytes(b'half')
    runner = SimpleNamespace(work_dir=str(tmp_path), logger=_Logger())
    hook = WorkDirLockHook()
    hook.before_train(runner)
    assert (tmp_path / LOCK_NAME).exists()
    assert not dead.exists() and mine.exists()
    assert 'Removed incomplete files' in runner.logger.lines[0]
    assert str(os.getpid()) in (tmp_path / LOCK_NAME).read_text()
    hook.after_train(runner)
    assert not (tmp_path / LOCK_NAME).exists()
    hook.after_train(runner)  # twice: nothing to release


def test_the_default_configs_hold_the_lock_without_a_checkpoint_hook(
        tmp_path):
    from conftest import TINY_CFG
    from mlic.engine import prepare_run
    from mlic.utils import load_config
    cfg = load_config(TINY_CFG, {'default_hooks.checkpoint': None},
                      work_dir=str(tmp_path))
    prepare_run(cfg)
    assert cfg.default_hooks.work_dir_lock == dict(type='WorkDirLockHook')
    cfg = load_config(TINY_CFG, {'default_hooks.work_dir_lock': None},
                      work_dir=str(tmp_path))
    notes = prepare_run(cfg)
    assert any('the work dir is not locked' in n for n in notes)
    assert 'work_dir_lock' not in cfg.default_hooks


def test_a_config_naming_mmengines_checkpoint_hook_gets_mlics(tmp_path):
    from conftest import TINY_CFG
    from mlic.engine import prepare_run
    from mlic.utils import load_config
    cfg = load_config(TINY_CFG, {'default_hooks.checkpoint.type':
                                 'CheckpointHook'}, work_dir=str(tmp_path))
    cfg.default_hooks.pop('work_dir_lock')
    notes = prepare_run(cfg)
    assert cfg.default_hooks.checkpoint.type == 'SafeCheckpointHook'
    assert any("mmengine's CheckpointHook -> SafeCheckpointHook" in n
               for n in notes)
    assert any('work_dir_lock: added' in n for n in notes)


def test_refused_when_another_process_holds_it(tmp_path):
    import subprocess
    import sys
    from conftest import REPO
    proc = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time\n'
         'from mlic.engine.work_dir_lock import WorkDirLock\n'
         'WorkDirLock(sys.argv[1]).acquire()\n'
         'print("ok", flush=True)\ntime.sleep(60)\n', str(tmp_path)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ,
                                                    PYTHONPATH=REPO))
    try:
        assert proc.stdout.readline().strip() == 'ok'
        runner = SimpleNamespace(work_dir=str(tmp_path), logger=_Logger())
        with pytest.raises(WorkDirInUseError, match=f'process {proc.pid}'):
            WorkDirLockHook().before_train(runner)
    finally:
        proc.kill()
        proc.wait()
    with WorkDirLock(str(tmp_path)):
        pass
