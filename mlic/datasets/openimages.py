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
from typing import Optional

from mmengine.logging import print_log

from mlic.registry import DATASETS
from .csv_dataset import CsvMultiLabel
from .errors import DatasetError
from .label_index import LabelIndexBuilder


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
        images = {}  # ImageID -> (positives, negatives), file order
        dropped = 0
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
            entry = images.get(row[at_img])
            if entry is None:
                entry = images[row[at_img]] = ([], [], reader.line_num)
            entry[0 if conf.startswith('1') else 1].append(k)
        if not images:
            raise DatasetError(f'{path}: no row of a kept class')
        builder = LabelIndexBuilder()
        conflicts, first = 0, None
        lines = []
        for image_id, (pos, neg, line) in images.items():
            lines.append(line)
            both = set(pos) & set(neg)
            if both:
                conflicts += len(both)
                first = first or image_id
                pos = [k for k in pos if k not in both]
                neg = [k for k in neg if k not in both]
            builder.add(image_id + self.image_ext, pos, sorted(both),
                        negatives=neg)
        if dropped:
            print_log(f'OpenImagesMultiLabel: {path}: {dropped} row(s) of '
                      'classes outside the class list dropped',
                      logger='current')
        if conflicts:
            print_log(f'OpenImagesMultiLabel: {path}: {conflicts} label(s) '
                      'verified both positive and negative for one image '
                      f'(first: {first}) are ignored there',
                      logger='current', level=logging.WARNING)
        index = builder.build()
        if self.check_files:
            self._check_files(index, lines)
        return index


__all__ = ['OpenImagesMultiLabel', 'read_class_descriptions']
