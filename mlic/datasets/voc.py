"""PASCAL VOC 2007 / 2012 as multi-label datasets (docs/method.md section 6).

mmpretrain's ``VOC`` reads the same layout, but silently skips an object
with an unknown class name, fails with a bare parser error on a broken XML
and does not check that the images exist; and it marks a class as difficult
whenever *one* of its objects is difficult. This subclass keeps its
arguments and metainfo and reads the annotations strictly.
"""
import os.path as osp
import re
import xml.etree.ElementTree as ET
from typing import List, Optional, Union

from mmpretrain.datasets import VOC

from mlic.registry import DATASETS
from .errors import DatasetError

VOC_SPLITS = ('train', 'val', 'trainval', 'test')


def read_classes(classes, data_root: str = '') -> List[str]:
    """Class names from a list, or from a text file (one a line, blank
    lines skipped; relative to ``data_root`` unless absolute); names must
    be unique and non-empty."""
    if isinstance(classes, str):
        path = classes if osp.isabs(classes) else osp.join(data_root,
                                                           classes)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'classes file not found: {path} (classes={classes!r}, '
                f'relative to data_root={data_root!r}); one class name a '
                'line')
        with open(path, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
        where = path
    else:
        names = [str(c).strip() for c in classes]
        where = 'classes'
    if not names:
        raise DatasetError(f'{where}: no class names')
    seen = set()
    for name in names:
        if not name or name in seen:
            raise DatasetError(f'{where}: class name {name!r} is '
                               f'{"empty" if not name else "repeated"}')
        seen.add(name)
    return names


@DATASETS.register_module()
class VOCMultiLabel(VOC):
    """``VOCdevkit/VOC2007`` or ``VOC2012`` read as image-level labels.

    For each image id in ``ImageSets/Main/<split>.txt``, the labels are the
    classes of the ``<object>`` entries of ``Annotations/<id>.xml``. A class
    whose objects in an image are *all* marked ``<difficult>1</difficult>``
    is an ignored label for that image (``gt_label_difficult``): it counts
    neither as positive nor as negative in AP, the threshold metrics or
    (with :class:`~mlic.models.heads.QueryDecoderHead`) the loss - the
    standard VOC protocol. ``difficult_as_positive=True`` counts it as a
    positive instead.

    Args:
        data_root (str): the ``VOC2007`` or ``VOC2012`` folder.
        split (str): ``'train'``, ``'val'``, ``'trainval'`` or ``'test'``.
        with_labels (bool): read ``Annotations``; ``False`` for VOC 2012
            test, whose annotations are withheld (images only; such a set
            is for ``tools/test.py --format-only``).
        difficult_as_positive (bool): count difficult-only classes as
            positives instead of ignoring them.
        check_files (bool): check at start-up that every listed image
            exists.
        year (str, optional): ``'VOC2007'`` or ``'VOC2012'``; default the
            ``VOC20xx`` folder of ``data_root`` (the devkit's layout). Kept
            in the metainfo (``year``) for the evaluation-server writer
            (a ``ConcatDataset`` of two years needs
            ``ignore_keys=['year']``).
        classes (list | str, optional): your own class names, for data in
            VOC's layout with other classes: a list, or a text file (one
            name a line; relative to ``data_root`` unless absolute).
            Default the 20 VOC classes.
        image_set_path, data_prefix, test_mode, metainfo, **kwargs: as
            mmpretrain's ``VOC`` / ``BaseDataset`` (``pipeline``, ...).
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'trainval',
                 image_set_path: str = '',
                 data_prefix: Union[str, dict] = dict(
                     img_path='JPEGImages', ann_path='Annotations'),
                 test_mode: bool = False,
                 with_labels: bool = True,
                 difficult_as_positive: bool = False,
                 check_files: bool = True,
                 metainfo: Optional[dict] = None,
                 year: Optional[str] = None,
                 classes: Optional[Union[str, List[str]]] = None,
                 **kwargs):
        if split not in VOC_SPLITS:
            raise DatasetError(f'VOCMultiLabel: split={split!r} is not one '
                               f'of {VOC_SPLITS}')
        if not osp.isdir(data_root):
            raise FileNotFoundError(
                f'VOC data_root not found: {data_root} (expected '
                f'VOCdevkit/VOC2007 or VOCdevkit/VOC2012, see '
                f'docs/datasets.md)')
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        data_prefix = dict(data_prefix)
        if not with_labels:
            data_prefix.pop('ann_path', None)
            test_mode = True
        elif not data_prefix.get('ann_path'):
            raise DatasetError(
                'VOCMultiLabel: with_labels=True needs data_prefix.ann_path '
                "(e.g. 'Annotations')")
        if classes is not None:
            metainfo = dict(metainfo or {},
                            classes=tuple(read_classes(classes, data_root)))
        self.with_labels = with_labels
        self.difficult_as_positive = difficult_as_positive
        self.check_files = check_files
        if year is None:
            found = re.findall(r'VOC(20\d\d)', osp.abspath(data_root))
            year = f'VOC{found[-1]}' if found else None
        elif not re.fullmatch(r'VOC20\d\d', str(year)):
            raise DatasetError(f"VOCMultiLabel: year={year!r}; expected "
                               "'VOC2007' or 'VOC2012'")
        super().__init__(
            data_root=data_root,
            split=split,
            image_set_path=image_set_path,
            data_prefix=data_prefix,
            test_mode=test_mode,
            metainfo=metainfo,
            **kwargs)
        # (set after loading: mmengine reads a string metainfo value as a
        # file name)
        if year is not None:
            self._metainfo.setdefault('year', year)

    def _read_split(self) -> List[str]:
        path = self.image_set_path
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'VOC split file not found: {path} (split={self.split!r}; '
                f'expected ImageSets/Main/{self.split}.txt under '
                f'{self.data_root})')
        ids = []
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                # ImageSets/Main/<class>_<split>.txt lines are "<id> <1|0|-1>"
                if len(parts) > 2:
                    raise DatasetError(
                        f'{path}:{lineno}: expected one image id per line, '
                        f'got {line.strip()!r}')
                ids.append((parts[0], lineno))
        if not ids:
            raise DatasetError(f'VOC split file {path} lists no image')
        return ids

    def _labels_from_xml(self, img_id: str):
        path = osp.join(self.ann_prefix, f'{img_id}.xml')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'VOC annotation not found: {path} (listed in '
                f'{self.image_set_path})')
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            line, col = e.position
            raise DatasetError(f'{path}:{line}:{col}: malformed XML '
                               f'({e})') from None
        clear, difficult = set(), set()
        for obj in root.iter('object'):
            name_el = obj.find('name')
            name = (name_el.text or '').strip() if name_el is not None else ''
            if name not in self.class_to_idx:
                raise DatasetError(
                    f'{path}: object with unknown class name {name!r}; '
                    f'expected one of {list(self.CLASSES)[:25]}. Data with '
                    "classes of its own: VOCMultiLabel(classes=['a', 'b', "
                    "...]) or classes='classes.txt' (one name a line, "
                    'relative to data_root), and model.head.num_classes '
                    'to match')
            flag = obj.find('difficult')
            text = (flag.text or '0').strip() if flag is not None else '0'
            if text not in ('0', '1'):
                raise DatasetError(
                    f'{path}: object {name!r} has <difficult>{text}'
                    f'</difficult>; expected 0 or 1')
            (difficult if text == '1' else clear).add(self.class_to_idx[name])
        difficult_only = difficult - clear
        if self.difficult_as_positive:
            return sorted(clear | difficult_only), []
        return sorted(clear), sorted(difficult_only)

    def load_data_list(self) -> List[dict]:
        data_list = []
        for img_id, lineno in self._read_split():
            img_path = osp.join(self.img_prefix, f'{img_id}.jpg')
            if self.check_files and not osp.isfile(img_path):
                raise FileNotFoundError(
                    f'{self.image_set_path}:{lineno}: image id {img_id!r} '
                    f'has no image file {img_path}')
            info = dict(img_path=img_path, img_id=img_id)
            if self.with_labels:
                labels, ignored = self._labels_from_xml(img_id)
                info.update(gt_label=labels, gt_label_difficult=ignored)
            data_list.append(info)
        return data_list

    def get_cat_ids(self, idx: int) -> List[int]:
        if not self.with_labels:
            return []
        return self.get_data_info(idx)['gt_label']
