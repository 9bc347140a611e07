"""Prediction files: the per-image scores ``tools/test.py --out`` writes.

Format (``.npz``, numpy's zip of arrays, read with ``allow_pickle=False``:
it cannot carry code):

* ``scores``: (N, C) float32 probabilities;
* ``targets``: (N, C) int8, 1 / 0 / -1 (ignored);
* ``meta``: one JSON string: ``format`` (``'mlic-predictions'``),
  ``version``, ``classes`` (C names, the columns' order), ``img_ids`` and
  ``img_paths`` (N each).

:func:`load_predictions` also reads the ``.pkl`` files of earlier mlic
versions, through an allow-list unpickler that admits plain containers
and numpy arrays only (:func:`mlic.fileio.safe_pickle_load`): a pickle that
asks for anything else (``os.system``, any class) is refused, unrun.
Whatever the format, what is read is checked: the arrays' shapes agree, the
class names are the columns, the scores are finite.
"""
import json
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from mlic.fileio import atomic_write, safe_pickle_load
from .functional import NonFiniteScoresError, check_finite_scores

FORMAT = 'mlic-predictions'
VERSION = 1


class PredictionsFileError(ValueError):
    """A predictions file that cannot be used; the message says why."""


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_predictions(path: str, scores, targets, classes: Sequence[str],
                     img_ids: Optional[Sequence] = None,
                     img_paths: Optional[Sequence] = None) -> str:
    """Write a predictions file atomically (see the module docstring)."""
    path = os.fspath(path)
    if not path.endswith('.npz'):
        raise PredictionsFileError(
            f'{path}: prediction files are .npz (numpy arrays + JSON, which '
            'cannot carry code); name the file *.npz')
    scores = np.asarray(scores, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.int8)
    n = scores.shape[0]
    meta = dict(format=FORMAT, version=VERSION,
                classes=[str(c) for c in classes],
                img_ids=[_json_value(i) for i in (img_ids or [None] * n)],
                img_paths=[None if p is None else str(p)
                           for p in (img_paths or [None] * n)])
    validate_predictions(dict(scores=scores, targets=targets, **meta), path)
    with atomic_write(path, 'wb') as f:  # a file object: no suffix added
        np.savez(f, scores=scores, targets=targets,
                 meta=np.array(json.dumps(meta)))
    return path


def load_predictions(path: str) -> dict:
    """Read a predictions file: ``scores`` (N, C) float, ``targets`` (N, C)
    int8, ``classes``, ``img_ids``, ``img_paths``; checked (module
    docstring). Raises :class:`PredictionsFileError` naming the file."""
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'predictions file not found: {path} (write '
                                'it with tools/test.py CONFIG CKPT --out '
                                'preds.npz)')
    if path.endswith('.pkl'):
        try:
            data = safe_pickle_load(path)
        except ValueError as err:
            raise PredictionsFileError(str(err)) from None
        if not isinstance(data, dict):
            raise PredictionsFileError(
                f'{path} holds a {type(data).__name__}, not the dict '
                'tools/test.py --out writes')
    else:
        data = _load_npz(path)
    validate_predictions(data, path)
    n = np.shape(data['scores'])[0]
    out = dict(scores=np.asarray(data['scores']),
               targets=np.asarray(data['targets']).astype(np.int8),
               classes=[str(c) for c in data['classes']],
               img_ids=list(data.get('img_ids') or [None] * n),
               img_paths=list(data.get('img_paths') or [None] * n))
    return out


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ('scores', 'targets', 'meta')
                       if k not in npz.files]
            if missing:
                raise PredictionsFileError(
                    f'{path} has no {missing}: expected the --out file of '
                    'tools/test.py')
            scores, targets = npz['scores'], npz['targets']
            meta = json.loads(str(npz['meta']))
    except PredictionsFileError:
        raise
    except ValueError as err:
        if 'allow_pickle' in str(err):
            raise PredictionsFileError(
                f'{path} holds pickled objects, which can carry code; it is '
                'not loaded (mlic writes plain arrays and JSON)') from None
        raise PredictionsFileError(f'{path} is not a predictions file '
                                   f'({err})') from None
    except Exception as err:  # zipfile.BadZipFile, EOFError, OSError ...
        raise PredictionsFileError(
            f'{path} is truncated or not a predictions file '
            f'({type(err).__name__}: {err}); write it again with '
            'tools/test.py --out') from None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT:
        raise PredictionsFileError(f'{path}: its meta is not an mlic '
                                   'predictions header')
    return dict(meta, scores=scores, targets=targets)


def validate_predictions(data: dict, path: str = 'predictions') -> None:
    """The checks :func:`load_predictions` makes, on a loaded dict."""
    missing = [k for k in ('scores', 'targets', 'classes') if k not in data]
    if missing:
        raise PredictionsFileError(f'{path} has no {missing}: expected the '
                                   '--out file of tools/test.py')
    scores = np.asarray(data['scores'])
    targets = np.asarray(data['targets'])
    classes = list(data['classes'])
    if scores.ndim != 2 or not np.issubdtype(scores.dtype, np.floating):
        raise PredictionsFileError(
            f'{path}: scores must be a float (images x classes) array, got '
            f'{scores.dtype} of shape {scores.shape}')
    if targets.shape != scores.shape:
        raise PredictionsFileError(
            f'{path}: targets {targets.shape} and scores {scores.shape} '
            'differ in shape')
    if len(classes) != scores.shape[1]:
        raise PredictionsFileError(
            f'{path}: {len(classes)} class names for {scores.shape[1]} '
            'score columns; the file was edited or is damaged (one name per '
            'column, in column order)')
    if len(set(map(str, classes))) != len(classes):
        raise PredictionsFileError(f'{path}: class names repeat')
    try:  # block by block: no (N, C) boolean copy of a large file
        check_finite_scores(scores, classes=classes)
    except NonFiniteScoresError as err:
        raise PredictionsFileError(f'{path}: {err}') from None
    if scores.size:
        low, high = float(scores.min()), float(scores.max())
        if low < 0 or high > 1:
            row, col = np.unravel_index(
                int(np.argmin(scores)) if low < 0 else
                int(np.argmax(scores)), scores.shape)
            value = low if low < 0 else high
            raise PredictionsFileError(
                f'{path}: scores lie in [{low:.4g}, {high:.4g}], not in [0, '
                f'1] (image {row}, class {classes[col]!r}: {value:.4g}); they '
                'look like logits saved by another tool. Save probabilities '
                '(sigmoid of the logits), as tools/test.py --out does')
    if targets.size and not np.isin(targets, (-1, 0, 1)).all():
        raise PredictionsFileError(f'{path}: targets must be 1, 0 or -1')
    n = scores.shape[0]
    for key in ('img_ids', 'img_paths'):
        value = data.get(key)
        if value is not None and len(value) != n:
            raise PredictionsFileError(f'{path}: {len(value)} {key} for {n} '
                                       'rows of scores')
