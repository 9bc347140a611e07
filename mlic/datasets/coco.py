"""MS-COCO as a multi-label dataset (docs/method.md section 6)."""
import contextlib
import io
import json
import os.path as osp
from typing import List

from mmpretrain.datasets import MultiLabelDataset
from pycocotools.coco import COCO

from mlic.registry import DATASETS
from .errors import DatasetError


def _load_coco_json(ann_file: str) -> dict:
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    try:
        with open(ann_file, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(
            f'annotation file {ann_file} is not valid JSON: {e}') from None
    if not isinstance(data, dict):
        raise DatasetError(f'annotation file {ann_file}: expected a JSON '
                           f'object, got {type(data).__name__}')
    for key in ('images', 'annotations', 'categories'):
        if key not in data:
            raise DatasetError(
                f'annotation file {ann_file} has no "{key}" list; is it a '
                'COCO instances_*.json file?')
    return data


@DATASETS.register_module()
class CocoMultiLabel(MultiLabelDataset):
    """COCO-format detection annotations read as image-level labels.

    The labels of an image are the union of the categories of all its
    instance annotations (crowd annotations included). COCO category ids
    (1..90 with gaps for COCO 2014) map to contiguous class indices in sorted
    id order; class names come from the JSON. Images without annotations are
    kept by default (they are all-negative samples; COCO 2014 then has the
    paper's 82,783 train / 40,504 val images).

    Args:
        ann_file (str): ``instances_*.json``; relative paths are joined with
            ``data_root``.
        data_prefix (str | dict): the image folder (``dict(img_path=...)``
            or a plain string), relative to ``data_root``.
        data_root (str): common root of both.
        drop_empty (bool): drop images that have no annotation.
        check_files (bool): check at start-up that every image file exists,
            so a missing image stops the run before any training.
        **kwargs: see :class:`mmpretrain.datasets.BaseDataset` (``pipeline``,
            ``test_mode``, ``indices``, ``lazy_init`` ...).

    Each data item: ``img_path``, ``img_id`` (the COCO image id), ``gt_label``
    (sorted list of class indices), ``width``, ``height``.
    """

    def __init__(self,
                 ann_file: str,
                 data_prefix='',
                 data_root: str = '',
                 drop_empty: bool = False,
                 check_files: bool = True,
                 **kwargs):
        self.drop_empty = drop_empty
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file,
            data_prefix=data_prefix,
            data_root=data_root,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        ann_file = self.ann_file
        img_dir = self.img_prefix
        data = _load_coco_json(ann_file)
        _check_images(data['images'], ann_file)
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'image folder not found: {img_dir!r} (data_root + data_prefix '
                f'of the dataset reading {ann_file})')
        coco = COCO()
        coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()

        cat_ids = sorted(coco.cats)
        cat2label = {cat_id: i for i, cat_id in enumerate(cat_ids)}
        names = tuple(coco.cats[c]['name'] for c in cat_ids)
        self._set_classes(names, ann_file)

        data_list = []
        for img in data['images']:
            labels = set()
            for ann in coco.imgToAnns.get(img['id'], []):
                label = cat2label.get(ann.get('category_id'))
                if label is None:
                    raise DatasetError(
                        f'{ann_file}: annotation id={ann.get("id")} of image '
                        f'id={img["id"]} names category_id='
                        f'{ann.get("category_id")!r}, which is not in '
                        f'"categories" (known ids: {cat_ids[:10]}'
                        f'{" ..." if len(cat_ids) > 10 else ""})')
                labels.add(label)
            if self.drop_empty and not labels:
                continue
            data_list.append(
                dict(
                    img_path=osp.join(img_dir, img['file_name']),
                    img_id=img['id'],
                    gt_label=sorted(labels),
                    width=img.get('width'),
                    height=img.get('height')))
        known_imgs = {img['id'] for img in data['images']}
        orphans = [a for a in data['annotations']
                   if a.get('image_id') not in known_imgs]
        if orphans:
            raise DatasetError(
                f'{ann_file}: annotation id={orphans[0].get("id")} refers to '
                f'image_id={orphans[0].get("image_id")!r}, which is not in '
                f'"images" ({len(orphans)} such annotations)')
        if self.check_files:
            _check_files_exist(data_list, ann_file)
        return data_list

    def _set_classes(self, names, ann_file):
        given = self._metainfo.get('classes', None)
        if given is not None and tuple(given) != tuple(names):
            raise DatasetError(
                f'classes given in the config ({len(given)}: '
                f'{list(given)[:5]}...) differ from the categories of '
                f'{ann_file} ({len(names)}: {list(names)[:5]}...)')
        self._metainfo['classes'] = tuple(names)


def _check_images(images, ann_file):
    """Every image entry has an id and a file name, ids are unique."""
    if not images:
        raise DatasetError(
            f'{ann_file}: "images" is empty - the file lists no image (is it '
            'the right annotation file?)')
    seen = {}
    for k, img in enumerate(images):
        if not isinstance(img, dict):
            raise DatasetError(f'{ann_file}: images[{k}] is not an object: '
                               f'{img!r:.80}')
        for key in ('id', 'file_name'):
            if key not in img:
                raise DatasetError(
                    f'{ann_file}: images[{k}] has no "{key}" '
                    f'(it has {sorted(img)}); every image needs "id" and '
                    '"file_name"')
        if img['id'] in seen:
            raise DatasetError(
                f'{ann_file}: image id={img["id"]!r} appears twice (images['
                f'{seen[img["id"]]}] {img_name(images[seen[img["id"]]])} and '
                f'images[{k}] {img_name(img)}); image ids must be unique, or '
                'the annotations of one would be given to the other')
        seen[img['id']] = k


def img_name(img):
    return repr(img.get('file_name'))


def _check_files_exist(data_list, ann_file, max_listed: int = 5):
    missing = [d['img_path'] for d in data_list if not osp.isfile(d['img_path'])]
    if missing:
        listed = ', '.join(missing[:max_listed])
        more = f' and {len(missing) - max_listed} more' if len(
            missing) > max_listed else ''
        raise FileNotFoundError(
            f'{len(missing)} image(s) listed in {ann_file} are missing on '
            f'disk: {listed}{more}')
