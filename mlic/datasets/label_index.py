"""A compact index of a multi-label dataset: flat arrays, not a dict per
image.

mmengine keeps a dataset as a list of dicts (then pickled per item): about
400 bytes and several Python objects per image before the pickling, which
for millions of rows costs seconds and hundreds of MB per process. Here
every image is a slice of a few numpy arrays:

* ``paths``: the image paths as written in the annotation file, utf-8,
  packed into one byte array with ``path_offsets`` (N + 1);
* ``labels``: every image's class indices, one flat int32 array with
  ``label_offsets`` (N + 1); ``ignored`` and ``negatives`` (the known
  negatives of data whose unlisted classes are unknown) likewise;

and :meth:`LabelIndex.item` builds the dict of one image when it is asked
for. numpy arrays hold no per-item Python objects, so the pages a forked
DataLoader worker inherits stay shared (no reference counts are written):
the index costs its bytes once per machine, not once per worker.
"""
from array import array
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np


class LabelIndexBuilder:
    """Collects rows one by one (:meth:`add`); :meth:`build` packs them."""

    def __init__(self):
        self._paths = bytearray()
        self._path_offsets = array('q', [0])
        self._labels = array('i')
        self._label_offsets = array('q', [0])
        self._ignored = array('i')
        self._ignored_offsets = array('q', [0])
        self._negatives = array('i')
        self._negative_offsets = array('q', [0])
        self._hashes = array('q')

    def add(self, path: str, labels: Sequence[int],
            ignored: Sequence[int] = (), key: Optional[str] = None,
            negatives: Sequence[int] = ()) -> None:
        """One row; ``key``: what identifies the image when it differs from
        ``path`` as written (a normalised path), for :meth:`LabelIndex.
        duplicates`."""
        self._paths += path.encode('utf-8')
        self._path_offsets.append(len(self._paths))
        self._hashes.append(hash(path if key is None else key))
        self._labels.extend(labels)
        self._label_offsets.append(len(self._labels))
        if ignored:
            self._ignored.extend(ignored)
        self._ignored_offsets.append(len(self._ignored))
        if negatives:
            self._negatives.extend(negatives)
        self._negative_offsets.append(len(self._negatives))

    def __len__(self):
        return len(self._path_offsets) - 1

    def build(self, remap: Optional[np.ndarray] = None) -> 'LabelIndex':
        """The index; ``remap[k]`` replaces every class index ``k`` (the
        provisional indices of names met in file order -> sorted order)."""
        labels = np.frombuffer(self._labels, dtype=np.int32).copy() \
            if len(self._labels) else np.zeros(0, np.int32)
        ignored = np.frombuffer(self._ignored, dtype=np.int32).copy() \
            if len(self._ignored) else np.zeros(0, np.int32)
        negatives = np.frombuffer(self._negatives, dtype=np.int32).copy() \
            if len(self._negatives) else np.zeros(0, np.int32)
        if remap is not None:
            remap = np.asarray(remap, dtype=np.int32)
            labels = remap[labels] if labels.size else labels
            ignored = remap[ignored] if ignored.size else ignored
            negatives = remap[negatives] if negatives.size else negatives
        index = LabelIndex(
            np.frombuffer(bytes(self._paths), dtype=np.uint8),
            np.frombuffer(self._path_offsets, dtype=np.int64).copy(),
            labels, np.frombuffer(self._label_offsets, dtype=np.int64).copy(),
            ignored,
            np.frombuffer(self._ignored_offsets, dtype=np.int64).copy(),
            negatives,
            # no known negative anywhere (fully labelled data): no offsets
            np.frombuffer(self._negative_offsets, dtype=np.int64).copy()
            if len(self._negatives) else None)
        index.path_hashes = np.frombuffer(self._hashes, dtype=np.int64)
        return index


def first_equal(hashes: np.ndarray, value_of) -> np.ndarray:
    """For each entry, the first entry whose value equals it (itself when
    none before does): entries are grouped by ``hashes`` (their values'
    hashes) and compared by ``value_of(i)`` only within a group, so
    colliding hashes never merge different values, without a set of all
    values."""
    first = np.arange(len(hashes), dtype=np.int64)
    order = np.argsort(hashes, kind='stable')  # entry order in a group
    ordered = hashes[order]
    cuts = np.nonzero(ordered[1:] != ordered[:-1])[0] + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(ordered)]
    for g in np.nonzero(ends - starts > 1)[0]:
        seen = {}
        for i in order[starts[g]:ends[g]].tolist():
            first[i] = seen.setdefault(value_of(i), i)
    return first


@dataclass
class LabelIndex:
    """The packed rows (module docstring); ``len(index)`` images.
    ``path_hashes``: this process's ``hash`` of each path, kept from
    building (to find repeated paths without a set of strings)."""

    paths: np.ndarray
    path_offsets: np.ndarray
    labels: np.ndarray
    label_offsets: np.ndarray
    ignored: np.ndarray
    ignored_offsets: np.ndarray
    negatives: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int32))
    negative_offsets: Optional[np.ndarray] = None
    path_hashes: Optional[np.ndarray] = field(default=None, repr=False)

    def __len__(self):
        return len(self.path_offsets) - 1

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.paths, self.path_offsets,
                                      self.labels, self.label_offsets,
                                      self.ignored, self.ignored_offsets,
                                      self.negatives)) + (
            0 if self.negative_offsets is None else
            self.negative_offsets.nbytes)

    def path(self, i: int) -> str:
        start, end = self.path_offsets[i], self.path_offsets[i + 1]
        return self.paths[start:end].tobytes().decode('utf-8')

    def labels_of(self, i: int) -> np.ndarray:
        """Sorted, unique class indices of image ``i``."""
        return np.unique(
            self.labels[self.label_offsets[i]:self.label_offsets[i + 1]])

    def ignored_of(self, i: int) -> np.ndarray:
        return np.unique(
            self.ignored[self.ignored_offsets[i]:self.ignored_offsets[i + 1]])

    def negatives_of(self, i: int) -> np.ndarray:
        """The known negatives of image ``i`` (empty without a list)."""
        if self.negative_offsets is None:
            return np.zeros(0, np.int32)
        return np.unique(self.negatives[
            self.negative_offsets[i]:self.negative_offsets[i + 1]])

    def subset(self, indices) -> 'LabelIndex':
        """The rows ``indices`` (in that order), packed anew."""
        builder = LabelIndexBuilder()
        for i in np.asarray(indices, dtype=np.int64).reshape(-1):
            builder.add(self.path(int(i)), self.labels_of(int(i)).tolist(),
                        self.ignored_of(int(i)).tolist(),
                        negatives=self.negatives_of(int(i)).tolist())
        return builder.build()

    def duplicates(self, key=None):
        """``(first, again)`` row pairs whose paths are equal, ``first`` the
        earliest row with that path (sorted by ``again``); found by hashing
        the paths, without a set of strings (:func:`first_equal`).
        ``key``: a function of a path that names the image (the builder's
        ``key``), when paths written differently may be the same image."""
        n = len(self)
        if n < 2:
            return []
        digests = self.path_hashes if self.path_hashes is not None and \
            len(self.path_hashes) == n else np.fromiter(
                (hash(self.path(i)) for i in range(n)), dtype=np.int64,
                count=n)
        first = first_equal(digests, (lambda i: key(self.path(i))) if key
                            else self.path)
        again = np.nonzero(first != np.arange(n))[0]
        return [(int(first[i]), int(i)) for i in again]

    def label_matrix(self, num_classes: int) -> np.ndarray:
        """(N, C) bool positives (what label statistics need)."""
        out = np.zeros((len(self), num_classes), dtype=bool)
        rows = np.repeat(np.arange(len(self)), np.diff(self.label_offsets))
        out[rows, self.labels] = True
        return out
