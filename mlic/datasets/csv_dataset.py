"""Your own images and labels as a CSV (or TSV) file.

The common layout of multi-label image sets (Kaggle's among them)::

    image,labels,ignored
    photos/0001.jpg,cat dog,
    photos/0002.jpg,,            <- no positive label: a negative image
    photos/0003.jpg,person,bike  <- 'bike' is ignored (neither + nor -)

A header row names the columns; one row per image. The image column holds
a path relative to ``data_root`` + ``data_prefix`` (or an absolute path),
the label column the class names separated by ``label_sep``. The optional
ignored column lists labels that the metric and the loss skip (like VOC's
difficult objects); a label both positive and ignored stays positive.

Partly labelled data (docs/partial_labels.md): with ``unlisted='unknown'``
a class a row does not list is *unknown* (not a negative), and an optional
``negatives`` column lists the verified negatives::

    image,labels,negatives
    photos/0001.jpg,cat,dog bike  <- cat +, dog and bike -, the rest unknown
"""
import csv
import io
import logging
import os
import os.path as osp
from array import array
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log
from mmpretrain.datasets import MultiLabelDataset

from mlic.registry import DATASETS
from .errors import DatasetError
from .label_index import LabelIndexBuilder
from mlic.structures.label_states import NEGATIVE_KEY, set_states

IGNORED_KEY = 'gt_label_ignore'


def read_class_names(classes, where: str) -> Optional[tuple]:
    """``classes`` as a tuple: a list, or a text file of one name a line."""
    if classes is None:
        return None
    if isinstance(classes, str):
        if not osp.isfile(classes):
            raise FileNotFoundError(f'classes file not found: {classes} '
                                    f'(the classes of {where})')
        try:  # utf-8-sig: a byte-order mark is not part of the first name
            with open(classes, encoding='utf-8-sig') as f:
                names = [line.strip() for line in f if line.strip()]
        except UnicodeDecodeError as err:
            raise DatasetError(f'classes file {classes} is not UTF-8 text '
                               f'({err.reason} at byte {err.start}); save '
                               'it as UTF-8') from None
        source = classes
    else:
        names, source = [str(c) for c in classes], 'the classes list'
    if not names:
        raise DatasetError(f'{source} names no class')
    seen, dup = set(), set()
    for n in names:  # linear: label spaces of 10k+ classes
        (dup if n in seen else seen).add(n)
    dup = sorted(dup)
    if dup:
        raise DatasetError(f'{source} lists {dup} more than once')
    return tuple(names)


@DATASETS.register_module()
class CsvMultiLabel(MultiLabelDataset):
    """Multi-label images listed in a CSV/TSV file with a header row.

    Args:
        ann_file (str): the CSV file, relative to ``data_root`` or absolute.
        data_prefix (str | dict): folder the image paths are relative to
            (joined with ``data_root``).
        data_root (str): common root.
        classes (list | str, optional): class names in index order, or a
            text file with one name per line. Default: the sorted set of
            names found in the file (logged once).
        img_col (str): column with the image path. Default ``'image'``.
        label_col (str): column with the positive labels. Default
            ``'labels'``.
        ignored_col (str | None): column with ignored labels, used when
            the file has it. Default ``'ignored'``.
        negatives_col (str | None): column with the known negatives, used
            when the file has it (then ``unlisted='unknown'`` is required).
            Default ``'negatives'``.
        unlisted (str): what a class a row does not list is:
            ``'negative'`` (default: fully labelled data) or ``'unknown'``
            (partly labelled data: the loss's mode decides, the metric
            skips it). An unknown costs nothing in the index.
        label_sep (str): separator between names in one field. Default a
            space; fields are stripped and empty names dropped.
        delimiter (str): field delimiter (``'\\t'`` for TSV). Default ``','``.
        check_files (bool): check at start-up that every image exists.
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ...).

    Each data item: ``img_path``, ``img_id`` (the path as written in the
    file), ``gt_label`` (sorted class indices), ``gt_label_ignore``
    (sorted class indices) and, with ``unlisted='unknown'``,
    ``gt_label_negative`` (the known negatives). The dataset puts the last
    two on the packed data sample itself (no ``algorithm_keys`` needed).

    The rows are kept in a compact index (:mod:`mlic.datasets.label_index`:
    flat arrays, about 30 bytes an image plus its path, shared by forked
    loader workers) and each item's dict is built when it is read; a file
    of a million rows is indexed in seconds.
    """

    def __init__(self,
                 ann_file: str,
                 data_prefix: Union[str, dict] = '',
                 data_root: str = '',
                 classes: Union[None, str, Sequence[str]] = None,
                 img_col: str = 'image',
                 label_col: str = 'labels',
                 ignored_col: Optional[str] = 'ignored',
                 negatives_col: Optional[str] = 'negatives',
                 unlisted: str = 'negative',
                 label_sep: str = ' ',
                 delimiter: str = ',',
                 check_files: bool = True,
                 **kwargs):
        if not label_sep:
            raise ValueError('CsvMultiLabel: label_sep must not be empty')
        if unlisted not in ('negative', 'unknown'):
            raise ValueError(f'CsvMultiLabel: unlisted={unlisted!r} must be '
                             "'negative' (fully labelled data) or 'unknown'")
        self.negatives_col, self.unlisted = negatives_col, unlisted
        self.img_col, self.label_col = img_col, label_col
        self.ignored_col, self.label_sep = ignored_col, label_sep
        self.delimiter, self.check_files = delimiter, check_files
        self._class_arg = classes
        metainfo = kwargs.pop('metainfo', None)
        if classes is not None:
            names = read_class_names(
                classes if not isinstance(classes, str) or osp.isabs(classes)
                else osp.join(data_root, classes), ann_file)
            metainfo = dict(metainfo or {}, classes=names)
        super().__init__(
            ann_file=ann_file, data_prefix=data_prefix, data_root=data_root,
            metainfo=metainfo, **kwargs)

    # -- reading -------------------------------------------------------
    def _text(self, path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'annotation file not found: {path}')
        with open(path, 'rb') as f:
            data = f.read()
        try:
            return data.decode('utf-8-sig')
        except UnicodeDecodeError as err:
            line = data[:err.start].count(b'\n') + 1
            raise DatasetError(
                f'{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}'
                f' at offset {err.start}). Save the file as UTF-8 (e.g. '
                'iconv -f cp1252 -t utf-8 in.csv > out.csv, or "CSV UTF-8" '
                'in a spreadsheet program)') from None

    def _path_key(self, image: str) -> str:
        """The image a path names: normalised, relative to the image folder
        when it lies there (so ``a.jpg``, ``./a.jpg``, ``sub/../a.jpg`` and
        the absolute path of the same file agree)."""
        prefix = osp.abspath(self.img_prefix)
        full = osp.normpath(osp.join(prefix, image))
        if full.startswith(prefix.rstrip(os.sep) + os.sep):
            return full[len(prefix.rstrip(os.sep)) + 1:]
        return full

    def _names(self, field):
        return [n.strip() for n in field.split(self.label_sep) if n.strip()]

    def load_data_list(self) -> List[dict]:
        """The rows as dicts (mmengine's interface; the dataset itself keeps
        the compact :attr:`index` and builds an item's dict on access)."""
        index = self._build_index()
        return [self._item(index, i) for i in range(len(index))]

    def full_init(self):
        """Read the file into the compact index (once)."""
        if self._fully_initialized:
            return
        self.index = self._build_index()
        if self._indices is not None:
            self.index = self.index.subset(self._indices)
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return len(self.index)

    def get_data_info(self, idx: int) -> dict:
        self.full_init()
        if idx < 0:
            idx += len(self.index)
        info = self._item(self.index, int(idx))
        info['sample_idx'] = int(idx)
        return info

    def _item(self, index, i):
        image = index.path(i)
        img_path = image if osp.isabs(image) else osp.join(self.img_prefix,
                                                            image)
        item = {'img_path': img_path, 'img_id': image,
                'gt_label': index.labels_of(i).tolist(),
                IGNORED_KEY: index.ignored_of(i).tolist()}
        if self.unlisted == 'unknown':
            item[NEGATIVE_KEY] = index.negatives_of(i).tolist()
        return item

    def prepare_data(self, idx):
        """The pipeline's output, with the label states (ignored, known
        negatives) set on the packed data sample whatever ``PackInputs``'s
        ``algorithm_keys`` say: a state left behind would turn unknowns
        into negatives without a word."""
        info = self.get_data_info(idx)
        out = self.pipeline(dict(info))
        sample = out.get('data_samples') if isinstance(out, dict) else None
        if sample is not None:
            set_states(sample, info, overwrite=False)
        return out

    def _build_index(self):
        path = self.ann_file
        text = self._text(path)
        self._last_line = text.count('\n') + (not text.endswith('\n'))
        reader = csv.reader(io.StringIO(text), delimiter=self.delimiter)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DatasetError(f'{path} is empty: expected a header row '
                               f'({self.img_col}{self.delimiter}'
                               f'{self.label_col}) and one row per image')
        header = [h.strip() for h in header]
        for col in (self.img_col, self.label_col):
            if col not in header:
                raise DatasetError(
                    f'{path}:1: no column {col!r} in the header {header} '
                    '(set img_col / label_col, or delimiter=\'\\t\' for '
                    'a TSV file)')
        img_at, label_at = header.index(self.img_col), \
            header.index(self.label_col)
        ignored_at = header.index(self.ignored_col) if (
            self.ignored_col is not None and self.ignored_col in header) \
            else None
        negatives_at = header.index(self.negatives_col) if (
            self.negatives_col is not None and self.negatives_col in header) \
            else None
        if negatives_at is not None and self.unlisted != 'unknown':
            raise DatasetError(
                f'{path}:1: the file has a {self.negatives_col!r} column '
                "(known negatives), which only means something when the "
                "classes a row does not list are unknown: set "
                "unlisted='unknown' (partly labelled data), or remove the "
                'column (every unlisted class is then a negative)')
        given = self._metainfo.get('classes', None) \
            if self._class_arg is not None else None
        # names -> indices: the given order, or provisional indices in the
        # order names are met (sorted at the end)
        lookup = {n: k for k, n in enumerate(given)} if given is not None \
            else {}
        sep = self.label_sep
        width = len(header)
        builder = LabelIndexBuilder()
        lines = array('q')

        split_names = (lambda field: field.split()) if sep == ' ' else \
            (lambda field: [n.strip() for n in field.split(sep)
                            if n.strip()])
        setdefault = lookup.setdefault

        def indices(field, line_no, col):
            names = split_names(field)
            if given is None:
                return [setdefault(n, len(lookup)) for n in names]
            try:
                return [lookup[n] for n in names]
            except KeyError:
                unknown = next(n for n in names if n not in lookup)
                raise DatasetError(
                    f'{path}:{line_no}: unknown class {unknown!r} in column '
                    f'{col!r} (known: {list(given)[:10]}'
                    f'{" ..." if len(given) > 10 else ""})') from None

        norm = self._path_key
        stripped = []
        rows = iter(reader)
        previous = reader.line_num
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as err:  # a field over csv's size limit
                raise DatasetError(
                    f'{path}:{previous + 1}: a quoted field opened here is '
                    'never closed (it swallows the lines after it); close '
                    f'the quote or remove it ({err})') from None
            line_no = reader.line_num
            if line_no != previous + 1 and any('\n' in f or '\r' in f
                                               for f in row):
                raise DatasetError(
                    f'{path}:{previous + 1}: a quoted field opened here is '
                    + ('never closed' if line_no >= self._last_line else
                       f'closed only on line {line_no}')
                    + f' (it swallows lines {previous + 2}-{line_no}); close '
                    'the quote on its own line or remove it')
            previous = line_no
            if len(row) != width:
                if not row or not any(field.strip() for field in row):
                    continue  # blank line
                raise DatasetError(
                    f'{path}:{line_no}: {len(row)} fields, the header has '
                    f'{width} ({header}): {row!r:.120}')
            raw = row[img_at]
            image = raw.strip()
            if not image:
                raise DatasetError(f'{path}:{line_no}: empty '
                                   f'{self.img_col!r} field')
            if len(image) != len(raw):
                stripped.append(line_no)
            labels = indices(row[label_at], line_no, self.label_col)
            ignored = indices(row[ignored_at], line_no, self.ignored_col) \
                if ignored_at is not None else ()
            negatives = indices(row[negatives_at], line_no,
                                self.negatives_col) \
                if negatives_at is not None else ()
            if negatives and labels and not set(negatives).isdisjoint(
                    labels):
                both = set(negatives) & set(labels)
                name = next(n for n, k in lookup.items() if k in both)
                raise DatasetError(
                    f'{path}:{line_no}: {name!r} is listed both as a label '
                    f'and in {self.negatives_col!r}; keep it in one of them')
            # the same image written another way (./a.jpg, sub/../a.jpg,
            # its absolute path) is found as a repeat
            builder.add(image, labels, ignored,
                        norm(image) if image[0] in './' or '/.' in image
                        or '//' in image else None, negatives)
            lines.append(line_no)
        if not len(builder):
            raise DatasetError(f'{path} has a header but no image rows')
        remap = None
        if given is None:
            if not lookup:
                raise DatasetError(f'{path}: no row names a label; give '
                                   'classes=[...] or a classes file')
            classes = tuple(sorted(lookup))
            position = {n: k for k, n in enumerate(classes)}
            remap = np.empty(len(lookup), dtype=np.int32)
            for name, k in lookup.items():
                remap[k] = position[name]
            print_log(f'CsvMultiLabel: {len(classes)} classes from {path} '
                      f'(sorted names; pass classes=... to fix the order): '
                      f'{list(classes)[:20]}'
                      f'{" ..." if len(classes) > 20 else ""}',
                      logger='current')
            self._metainfo['classes'] = classes
        if stripped:
            print_log(f'CsvMultiLabel: {path}: {len(stripped)} image path(s) '
                      'had spaces around them, which were removed (first on '
                      f'line {stripped[0]}); quote a path whose name really '
                      'begins or ends with a space', logger='current',
                      level=logging.WARNING)
        index = builder.build(remap)
        for first, again in index.duplicates(norm)[:1]:
            a, b = index.path(first), index.path(again)
            same = '' if a == b else f' (as {a!r}: the same file)'
            raise DatasetError(
                f'{path}:{lines[again]}: image {b!r} is listed again{same} '
                f'(first on line {lines[first]}); give each image one row '
                'with all its labels')
        if self.check_files:
            self._check_files(index, lines)
        return index

    def _check_files(self, index, lines):
        missing = []
        for i in range(len(index)):
            image = index.path(i)
            full = image if osp.isabs(image) else osp.join(self.img_prefix,
                                                            image)
            if not osp.isfile(full):
                missing.append((lines[i], full))
        if missing:
            shown = ', '.join(f'line {n}: {p}' for n, p in missing[:5])
            raise FileNotFoundError(
                f'{self.ann_file}: {len(missing)} image(s) not found ({shown}'
                f'{" ..." if len(missing) > 5 else ""}); check data_root '
                '/ data_prefix, or set check_files=False')
