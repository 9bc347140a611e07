"""Reading and writing checkpoints so that nothing is lost or loaded wrongly.

* :func:`read_checkpoint`: ``torch.load(weights_only=True)`` through mlic's
  allow-list (:mod:`mlic.fileio.checkpoint_allowlist`), with one clear error for a missing,
  empty or truncated file, and for a file that asks for something the
  allow-list refuses (never a hint to switch weights-only loading off).
* :func:`check_state_dict_fits`: the checkpoint's weights against the
  model's, before anything is loaded: missing and unexpected keys and shape
  mismatches stop an evaluation, ``load_from`` or ``--resume`` with the
  first offending keys and the fix.
* writing is atomic (:mod:`mlic.fileio`, used by
  :meth:`mlic.engine.MLICRunner.save_checkpoint`): a kill leaves either the
  old file or the new one, never a truncated one.
* :func:`find_latest_checkpoint`: ``last_checkpoint`` is stored relative to
  the work dir (a moved work dir still resumes); absolute entries written by
  older runs are read too.
* :func:`non_finite_tensors`: the names of tensors holding NaN or inf; a
  checkpoint with any is never written.
"""
import glob
import os.path as osp
import pickle
import re
import zipfile
from typing import Dict, List, Optional

import torch
from mmengine.runner import CheckpointLoader

from mlic.fileio import atomic_write
from mlic.fileio.checkpoint_allowlist import allow_mmengine_checkpoints
LAST_CHECKPOINT = 'last_checkpoint'


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked; the message says why."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose weights do not fit the model of the config."""


def _is_local(path: str) -> bool:
    return '://' not in str(path)


def _siblings(path: str) -> str:
    files = sorted(glob.glob(osp.join(osp.dirname(path) or '.', '*.pth')),
                   key=osp.getmtime)
    files = [f for f in files if osp.abspath(f) != osp.abspath(path)]
    if not files:
        return ''
    return ' Other checkpoints there: ' + ', '.join(
        osp.basename(f) for f in files[-4:]) + '.'


_REFUSED = re.compile(r'(?:Unsupported global: GLOBAL|unsupported GLOBAL) '
                      r'([\w.]+)')


def read_checkpoint(path: str, map_location='cpu') -> dict:
    """Load a checkpoint safely; one clear error for every way it fails."""
    allow_mmengine_checkpoints()
    path = str(path)
    if not _is_local(path):
        return CheckpointLoader.load_checkpoint(path, map_location)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointError(
            f'checkpoint {path} is empty (0 bytes): it was being written '
            'when the run stopped, or the copy failed. Use another '
            f'checkpoint.{_siblings(path)}')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        refused = _REFUSED.search(str(err))
        what = f' asks for {refused.group(1)}, which' if refused else ''
        raise CheckpointError(
            f'checkpoint {path}{what} is not on mlic\'s allow-list, so it is '
            'not loaded. mlic reads checkpoints with weights_only=True and '
            'allows tensors, numpy arrays/scalars/dtypes and the mmengine '
            'objects its own checkpoints hold (message hub buffers, '
            'parameter-scheduler states; mlic/fileio/checkpoint_allowlist.py) - nothing '
            'that can run code. A checkpoint from elsewhere that holds other '
            'objects: load it in its own project and save only its '
            'state_dict (tensors) with torch.save.') from None
    except (EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(_truncated(path, size, err)) from None
    except RuntimeError as err:
        text = str(err)
        if ('PytorchStreamReader' in text or 'central directory' in text
                or 'unexpected EOF' in text or 'file read failed' in text):
            raise CheckpointError(_truncated(path, size, err)) from None
        raise


def _truncated(path, size, err):
    return (f'checkpoint {path} is truncated or corrupt ({size} bytes; '
            f'{type(err).__name__}: {str(err).splitlines()[0][:120]}): it '
            'was probably being written when the run was killed. Use another '
            f'checkpoint.{_siblings(path)}')


DDP_PREFIX = ((r'^module\.', ''), )


def revise_keys(state_dict: Dict[str, torch.Tensor],
                revisions=DDP_PREFIX) -> dict:
    """Keys rewritten by ``(pattern, replacement)`` pairs (mmengine's
    ``revise_keys``); by default a DDP ``module.`` prefix is removed."""
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in revisions:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def state_dict_of(checkpoint) -> dict:
    """The weights of a checkpoint (mmengine's ``state_dict`` entry, or a
    bare state dict), with a DDP ``module.`` prefix removed."""
    if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f'checkpoint holds a {type(checkpoint).__name__}, not a state '
            'dict')
    return revise_keys(checkpoint)


def state_dict_mismatch(model: torch.nn.Module, state_dict: dict) -> dict:
    """``missing``, ``unexpected`` and ``shape`` (key, ckpt, model) lists."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shape = [(k, tuple(state_dict[k].shape), tuple(own[k].shape))
             for k in own if k in state_dict
             and hasattr(state_dict[k], 'shape')
             and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    return dict(missing=missing, unexpected=unexpected, shape=shape)


def describe_mismatch(diff: dict, first: int = 5) -> str:
    parts = []

    def keys(items):
        more = f', ... ({len(items) - first} more)' if len(items) > first \
            else ''
        return ', '.join(items[:first]) + more

    if diff['missing']:
        parts.append(f'{len(diff["missing"])} weights of the model are not '
                     f'in the checkpoint ({keys(diff["missing"])})')
    if diff['unexpected']:
        parts.append(f'{len(diff["unexpected"])} checkpoint tensors have no '
                     f'place in the model ({keys(diff["unexpected"])})')
    if diff['shape']:
        items = [f'{k}: checkpoint {list(a)} vs model {list(b)}'
                 for k, a, b in diff['shape']]
        parts.append(f'{len(items)} shapes differ ({keys(items)})')
    return '; '.join(parts)


def check_state_dict_fits(model, state_dict, source: str,
                          how_to_skip: Optional[str] = None) -> dict:
    """Raise :class:`CheckpointMismatchError` unless every weight of the
    model is in ``state_dict`` with its shape and nothing else is."""
    diff = state_dict_mismatch(model, state_dict)
    if any(diff.values()):
        skip = f' To load only the weights that fit, on purpose: ' \
            f'{how_to_skip}.' if how_to_skip else ''
        raise CheckpointMismatchError(
            f'checkpoint {source} does not fit the model of this config: '
            f'{describe_mismatch(diff)}. It was probably trained with another '
            'config (or another num_classes): pass the config it was trained '
            f'with.{skip}')
    return diff


def non_finite_tensors(state_dict: dict) -> List[str]:
    """Names of floating-point tensors holding NaN or inf."""
    return [k for k, v in state_dict.items()
            if torch.is_tensor(v) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]


def write_last_checkpoint(work_dir: str, checkpoint_path: str) -> None:
    """Record ``checkpoint_path`` (relative to ``work_dir`` when inside it)."""
    rel = osp.relpath(osp.abspath(checkpoint_path), osp.abspath(work_dir))
    entry = checkpoint_path if rel.startswith('..') else rel
    with atomic_write(osp.join(work_dir, LAST_CHECKPOINT)) as f:
        f.write(entry)


_NUMBERED = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def _newest_numbered(work_dir: str) -> Optional[str]:
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = _NUMBERED.match(osp.basename(path))
        if m:
            found.append((m.group(1) == 'epoch', int(m.group(2)), path))
    return max(found)[2] if found else None


def find_latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``last_checkpoint`` names, as a usable path.

    Relative entries are relative to ``work_dir``; an absolute entry whose
    file is gone (the work dir was moved) falls back to the same file name
    in ``work_dir``. Without a usable ``last_checkpoint`` (none, empty, or
    naming a missing file), the newest ``epoch_N.pth`` / ``iter_N.pth`` of
    ``work_dir``; None when there is none.
    """
    record = osp.join(work_dir, LAST_CHECKPOINT)
    entry = ''
    if osp.isfile(record):
        with open(record) as f:
            entry = f.read().strip()
    if entry:
        candidates = [entry] if osp.isabs(entry) else []
        candidates.append(osp.join(work_dir, osp.basename(entry)) if
                          osp.isabs(entry) else osp.join(work_dir, entry))
        for path in candidates:
            if osp.isfile(path):
                return path
    return _newest_numbered(work_dir)
