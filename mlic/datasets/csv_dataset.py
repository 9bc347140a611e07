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
"""
import csv
import os.path as osp
from typing import List, Optional, Sequence, Union

from mmengine.logging import print_log
from mmpretrain.datasets import MultiLabelDataset

from mlic.registry import DATASETS
from .errors import DatasetError

IGNORED_KEY = 'gt_label_ignore'


def read_class_names(classes, where: str) -> Optional[tuple]:
    """``classes`` as a tuple: a list, or a text file of one name a line."""
    if classes is None:
        return None
    if isinstance(classes, str):
        if not osp.isfile(classes):
            raise FileNotFoundError(f'classes file not found: {classes} '
                                    f'(the classes of {where})')
        with open(classes, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
        source = classes
    else:
        names, source = [str(c) for c in classes], 'the classes list'
    if not names:
        raise DatasetError(f'{source} names no class')
    dup = sorted({n for n in names if names.count(n) > 1})
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
        label_sep (str): separator between names in one field. Default a
            space; fields are stripped and empty names dropped.
        delimiter (str): field delimiter (``'\\t'`` for TSV). Default ``','``.
        check_files (bool): check at start-up that every image exists.
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ...).

    Each data item: ``img_path``, ``img_id`` (the path as written in the
    file), ``gt_label`` (sorted class indices) and ``gt_label_ignore``
    (sorted class indices; pack it with ``PackInputs(algorithm_keys=
    ('gt_label_ignore',))``).
    """

    def __init__(self,
                 ann_file: str,
                 data_prefix: Union[str, dict] = '',
                 data_root: str = '',
                 classes: Union[None, str, Sequence[str]] = None,
                 img_col: str = 'image',
                 label_col: str = 'labels',
                 ignored_col: Optional[str] = 'ignored',
                 label_sep: str = ' ',
                 delimiter: str = ',',
                 check_files: bool = True,
                 **kwargs):
        if not label_sep:
            raise ValueError('CsvMultiLabel: label_sep must not be empty')
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
    def _rows(self):
        path = self.ann_file
        if not osp.isfile(path):
            raise FileNotFoundError(f'annotation file not found: {path}')
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.reader(f, delimiter=self.delimiter)
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
            rows = []
            for line_no, row in enumerate(reader, start=2):
                if not row or not any(field.strip() for field in row):
                    continue  # blank line
                if len(row) != len(header):
                    raise DatasetError(
                        f'{path}:{line_no}: {len(row)} fields, the header has '
                        f'{len(header)} ({header}): {row!r:.120}')
                rows.append((line_no, dict(zip(header, row))))
        if not rows:
            raise DatasetError(f'{path} has a header but no image rows')
        return header, rows

    def _names(self, field):
        return [n.strip() for n in field.split(self.label_sep) if n.strip()]

    def load_data_list(self) -> List[dict]:
        path = self.ann_file
        header, rows = self._rows()
        use_ignored = self.ignored_col is not None and \
            self.ignored_col in header
        classes = self._metainfo.get('classes', None) \
            if self._class_arg is not None else None
        if classes is None:
            found = set()
            for _, row in rows:
                found.update(self._names(row[self.label_col]))
                if use_ignored:
                    found.update(self._names(row[self.ignored_col]))
            if not found:
                raise DatasetError(f'{path}: no row names a label; give '
                                   'classes=[...] or a classes file')
            classes = tuple(sorted(found))
            print_log(f'CsvMultiLabel: {len(classes)} classes from {path} '
                      f'(sorted names; pass classes=... to fix the order): '
                      f'{list(classes)[:20]}'
                      f'{" ..." if len(classes) > 20 else ""}',
                      logger='current')
            self._metainfo['classes'] = classes
        index = {name: i for i, name in enumerate(classes)}

        def to_index(names, line_no, col):
            out = set()
            for name in names:
                if name not in index:
                    raise DatasetError(
                        f'{path}:{line_no}: unknown class {name!r} in column '
                        f'{col!r} (known: {list(classes)[:10]}'
                        f'{" ..." if len(classes) > 10 else ""})')
                out.add(index[name])
            return sorted(out)

        seen, data_list = {}, []
        for line_no, row in rows:
            image = row[self.img_col].strip()
            if not image:
                raise DatasetError(f'{path}:{line_no}: empty {self.img_col!r} '
                                   'field')
            if image in seen:
                raise DatasetError(
                    f'{path}:{line_no}: image {image!r} is listed again (first '
                    f'on line {seen[image]}); give each image one row with '
                    'all its labels')
            seen[image] = line_no
            labels = to_index(self._names(row[self.label_col]), line_no,
                              self.label_col)
            ignored = to_index(self._names(row[self.ignored_col]), line_no,
                               self.ignored_col) if use_ignored else []
            img_path = image if osp.isabs(image) else osp.join(
                self.img_prefix, image)
            data_list.append({'img_path': img_path, 'img_id': image,
                              'gt_label': labels, IGNORED_KEY: ignored})
        if self.check_files:
            missing = [(seen[d['img_id']], d['img_path']) for d in data_list
                       if not osp.isfile(d['img_path'])]
            if missing:
                shown = ', '.join(f'line {n}: {p}' for n, p in missing[:5])
                raise FileNotFoundError(
                    f'{path}: {len(missing)} image(s) not found ({shown}'
                    f'{" ..." if len(missing) > 5 else ""}); check data_root '
                    '/ data_prefix, or set check_files=False')
        return data_list
