"""OpenImages' own label files, read as they are downloaded
(docs/partial_labels.md).

* image-level human-verified labels, e.g.
  ``oidv6-train-annotations-human-imagelabels.csv``::

      ImageID,Source,LabelName,Confidence
      000002b66c9c498e,verification,/m/014j1m,0
      000002b66c9c498e,verification,/m/014sv8,1

  Confidence 1: a verified positive; 0: a verified negative; a class an
  image has no row for is unknown;
* class descriptions (``LabelName,DisplayName``, with or without that
  header), e.g. ``oidv6-class-descriptions.csv``;
* optionally the trainable classes (one LabelName a line, e.g.
  ``classes-trainable.txt``): rows of other classes are dropped.

The class names are the display names (a display name that several
LabelNames share gets its LabelName appended: ``'Jaguar (/m/0449p)'``).
Images are ``<data_prefix>/<ImageID><image_ext>``. A class verified both
positive and negative for one image (two sources disagree) is ignored there
(counted in the log).
"""
import csv
import logging
import os.path as osp
from array import array
from typing import Optional

import numpy as np
from mmengine.logging import print_log

from mlic.registry import DATASETS
from .csv_dataset import CsvMultiLabel
from .errors import DatasetError
from .label_index import LabelIndex, first_equal


def read_class_descriptions(path: str, trainable: Optional[str] = None):
    """``(label_names, display_names)`` in file order (the trainable list's
    order when given)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'class descriptions not found: {path}')
    with open(path, encoding='utf-8-sig', newline='') as f:
        rows = [r for r in csv.reader(f) if r and any(x.strip() for x in r)]
    if rows and [x.strip() for x in rows[0][:2]] == ['LabelName',
                                                     'DisplayName']:
        rows = rows[1:]
    display = {}
    for line, row in enumerate(rows, 1):
        if len(row) < 2:
            raise DatasetError(f'{path}: row {row!r} has no DisplayName '
                               '(expected LabelName,DisplayName)')
        display[row[0].strip()] = row[1].strip()
    if trainable is None:
        mids = list(display)
    else:
        if not osp.isfile(trainable):
            raise FileNotFoundError(f'trainable classes not found: '
                                    f'{trainable}')
        with open(trainable, encoding='utf-8-sig') as f:
            mids = [m.strip() for m in f if m.strip()]
        missing = [m for m in mids if m not in display]
        if missing:
            raise DatasetError(
                f'{trainable}: {len(missing)} class(es) not in {path} '
                f'(first: {missing[0]!r}); use the descriptions file of the '
                'same OpenImages version')
    names = [display[m] for m in mids]
    seen = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    names = [n if seen[n] == 1 else f'{n} ({m})' for n, m in zip(names, mids)]
    return mids, names


class _Runs:
    """The runs of rows of one ImageID, in file order: each run's image
    path (packed), its hash and its first line."""

    def __init__(self, image_ext):
        self.image_ext = image_ext
        self.paths = bytearray()
        self.offsets = array('q', [0])
        self.hashes = array('q')
        self.lines = array('q')

    def start(self, image_id: str, line: int) -> None:
        image_path = image_id + self.image_ext
        self.paths += image_path.encode('utf-8')
        self.offsets.append(len(self.paths))
        self.hashes.append(hash(image_path))
        self.lines.append(line)

    def __len__(self):
        return len(self.lines)

    def arrays(self):
        return (np.frombuffer(bytes(self.paths), np.uint8),
                np.frombuffer(self.offsets, np.int64).copy(),
                np.frombuffer(self.hashes, np.int64).copy(),
                np.frombuffer(self.lines, np.int64).copy())


def _merge_runs(paths, offsets, hashes, lines):
    """One image per distinct path, in order of its first run: ``(paths,
    offsets, hashes, lines, image_of_run)``; ``image_of_run`` (each run's
    image number) is None when every run is its own image (rows grouped by
    ImageID). Runs are compared by hash, then by path (``first_equal``)."""
    canon = first_equal(hashes,
                        lambda r: paths[offsets[r]:offsets[r + 1]].tobytes())
    keep = canon == np.arange(len(canon))
    if keep.all():
        return paths, offsets, hashes, lines, None
    number = np.cumsum(keep) - 1
    kept = np.nonzero(keep)[0]
    sizes = np.diff(offsets)[kept]
    new_offsets = np.zeros(len(kept) + 1, np.int64)
    np.cumsum(sizes, out=new_offsets[1:])
    new_paths = np.concatenate([paths[offsets[r]:offsets[r + 1]]
                                for r in kept]) if len(kept) else paths[:0]
    return (new_paths, new_offsets, hashes[kept], lines[kept],
            number[canon].astype(np.int32))


def _grouped(image, values, num_images):
    """``values`` (already in image order) and their (num_images + 1)
    offsets."""
    counts = np.bincount(image, minlength=num_images)
    offsets = np.zeros(num_images + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return np.ascontiguousarray(values, dtype=np.int32), offsets


def _keys(image, cls, num_classes):
    return image.astype(np.int64) * num_classes + cls


def _verified_both_ways(image, cls, positive, num_classes):
    """The sorted, unique keys ``image * C + class`` that have a positive
    and a negative row (memory: three arrays of the negatives' length)."""
    verified = _keys(image[positive], cls[positive], num_classes)
    if not verified.size:
        return verified
    verified.sort()
    negative = _keys(image[~positive], cls[~positive], num_classes)
    at = np.searchsorted(verified, negative)
    at[at == verified.size] = 0
    return np.unique(negative[verified[at] == negative])


def _pack(paths, path_offsets, hashes, image, cls, positive, num_classes):
    """The index of one row per (image, class, verdict): positives,
    negatives, and as ignored each class verified both ways for an image
    (sorted); each image's classes in file order. Returns ``(index, number
    of such conflicts, the first image with one or -1)``."""
    n = len(path_offsets) - 1
    if image.size > 1 and np.any(image[1:] < image[:-1]):
        order = np.argsort(image, kind='stable')  # file order in an image
        image, cls, positive = image[order], cls[order], positive[order]
        del order
    both = _verified_both_ways(image, cls, positive, num_classes)
    if both.size:
        key = _keys(image, cls, num_classes)
        at = np.minimum(np.searchsorted(both, key), both.size - 1)
        conflict = both[at] == key
        del key, at
    else:
        conflict = np.zeros_like(positive)
    pos, neg = positive & ~conflict, ~positive & ~conflict
    labels, label_offsets = _grouped(image[pos], cls[pos], n)
    negatives, negative_offsets = _grouped(image[neg], cls[neg], n)
    ignored, ignored_offsets = _grouped(both // num_classes,
                                        both % num_classes, n)
    index = LabelIndex(
        paths, path_offsets,
        labels, label_offsets, ignored, ignored_offsets, negatives,
        negative_offsets if negatives.size else None)
    index.path_hashes = hashes
    first = int(both[0] // num_classes) if both.size else -1
    return index, int(both.size), first


def _first_bad_line(path: str) -> int:
    """The number of the first line of ``path`` that is not UTF-8 (the
    error path only: a decoder reading blocks cannot say the line)."""
    with open(path, 'rb') as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode('utf-8')
            except UnicodeDecodeError:
                return number
    return 1


@DATASETS.register_module()
class OpenImagesMultiLabel(CsvMultiLabel):
    """OpenImages' image-level labels (module docstring): verified
    positives, verified negatives, the rest unknown.

    Args:
        ann_file (str): the human-verified image-level labels CSV.
        class_descriptions (str): ``LabelName,DisplayName`` CSV.
        trainable_classes (str, optional): the classes to keep.
        data_prefix (str): the images folder.
        image_ext (str): file name suffix of the images. Default ``'.jpg'``.
        **kwargs: :class:`CsvMultiLabel` arguments (``pipeline``,
            ``check_files``, ``test_mode``...).
    """

    def __init__(self, ann_file: str, class_descriptions: str,
                 trainable_classes: Optional[str] = None,
                 data_prefix: str = '', data_root: str = '',
                 image_ext: str = '.jpg', **kwargs):
        def rooted(p):
            return p if p is None or osp.isabs(p) or not data_root else \
                osp.join(data_root, p)
        self.mids, names = read_class_descriptions(
            rooted(class_descriptions), rooted(trainable_classes))
        self.image_ext = image_ext
        for key in ('classes', 'unlisted', 'img_col', 'label_col'):
            if key in kwargs:
                raise ValueError(
                    f'OpenImagesMultiLabel: {key}= is set by the OpenImages '
                    'files (classes from the descriptions, unlisted '
                    "'unknown'); remove it")
        super().__init__(ann_file=ann_file, data_prefix=data_prefix,
                         data_root=data_root, classes=list(names),
                         unlisted='unknown', **kwargs)

    def _build_index(self):
        # streamed, not read whole: OpenImages' train file is 9M rows
        # (the text and a StringIO of it took 2.9 GB at its size)
        path = self.ann_file
        if not osp.isfile(path):
            raise FileNotFoundError(f'annotation file not found: {path}')
        with open(path, encoding='utf-8-sig', newline='') as f:
            reader = csv.reader(f)
            try:
                return self._index_rows(path, reader)
            except UnicodeDecodeError as err:
                raise DatasetError(
                    f'{path}:{_first_bad_line(path)}: not UTF-8 text ('
                    f'{err.reason}). Save the file as UTF-8') from None

    def _index_rows(self, path, reader):
        header = [h.strip() for h in next(reader, [])]
        need = ('ImageID', 'LabelName', 'Confidence')
        if any(col not in header for col in need):
            raise DatasetError(
                f'{path}:1: header {header} lacks {need}; expected the '
                'human-verified image-level labels '
                '(ImageID,Source,LabelName,Confidence)')
        at_img, at_mid, at_conf = (header.index(c) for c in need)
        width = len(header)
        lookup = {m: k for k, m in enumerate(self.mids)}
        # flat arrays, 9 bytes a row; an image is a run of rows with one
        # ImageID (OpenImages ships its rows grouped so: no dict of 1.8M
        # IDs), runs of one ID met again are merged afterwards (_merge_runs)
        runs = _Runs(self.image_ext)
        row_run, row_class = array('i'), array('i')
        row_positive = array('b')
        dropped = 0
        previous = None
        for row in reader:
            if len(row) != width:
                if not any(x.strip() for x in row):
                    continue
                raise DatasetError(f'{path}:{reader.line_num}: {len(row)} '
                                   f'fields, the header has {width}')
            k = lookup.get(row[at_mid])
            if k is None:
                dropped += 1
                continue
            conf = row[at_conf].strip()
            if conf not in ('0', '1', '0.0', '1.0'):
                raise DatasetError(
                    f'{path}:{reader.line_num}: Confidence {conf!r} must be '
                    '1 (verified positive) or 0 (verified negative)')
            if row[at_img] != previous:
                previous = row[at_img]
                runs.start(previous, reader.line_num)
            row_run.append(len(runs) - 1)
            row_class.append(k)
            row_positive.append(conf.startswith('1'))
        if not len(runs):
            raise DatasetError(f'{path}: no row of a kept class')
        paths, path_offsets, hashes, lines, image_of_run = _merge_runs(
            *runs.arrays())
        del runs
        image = np.frombuffer(row_run, np.int32)
        if image_of_run is not None:  # an ID met in several runs
            image = image_of_run[image]
        index, conflicts, first = _pack(
            paths, path_offsets, hashes, image,
            np.frombuffer(row_class, np.int32),
            np.frombuffer(row_positive, np.int8).astype(bool),
            len(self.mids))
        if dropped:
            print_log(f'OpenImagesMultiLabel: {path}: {dropped} row(s) of '
                      'classes outside the class list dropped',
                      logger='current')
        if conflicts:
            print_log(f'OpenImagesMultiLabel: {path}: {conflicts} label(s) '
                      'verified both positive and negative for one image '
                      f'(first: {index.path(first)}) are ignored there',
                      logger='current', level=logging.WARNING)
        if self.check_files:
            self._check_files(index, lines)
        return index


__all__ = ['OpenImagesMultiLabel', 'read_class_descriptions']
