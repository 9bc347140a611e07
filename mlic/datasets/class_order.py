"""One class list per model: the same names, in the same order, for every
split of a run and for every checkpoint evaluated on a dataset.

The k-th score of a model means the k-th class of the data it was trained
on. A split or a test set whose class list differs - another order (a CSV
split whose names were sorted on their own), another set (``zebra``
instead of ``boat``) - labels every column wrongly, and every metric is
silently wrong. :func:`check_class_order` refuses that with a message
saying what differs and how to fix it.
"""
from typing import Optional, Sequence


class ClassOrderError(ValueError):
    """Two class lists that must be the same are not."""


def _names(classes) -> list:
    return [str(c) for c in classes]


def class_order_mismatch(expected: Sequence[str],
                         got: Sequence[str]) -> Optional[str]:
    """None when the lists are equal; else how ``got`` differs from
    ``expected`` in words (order, missing, extra names)."""
    expected, got = _names(expected), _names(got)
    if expected == got:
        return None
    got_set, expected_set = set(got), set(expected)
    missing = [c for c in expected if c not in got_set]
    extra = [c for c in got if c not in expected_set]

    def show(names):
        return f'{names[:6]}{" ..." if len(names) > 6 else ""}'

    if not missing and not extra and len(expected) == len(got):
        moved = [(k, e, g) for k, (e, g) in enumerate(zip(expected, got))
                 if e != g]
        first = ', '.join(f'#{k}: {e!r} vs {g!r}' for k, e, g in moved[:3])
        return (f'have the same {len(expected)} names in another order '
                f'({len(moved)} positions differ; {first})')
    parts = []
    if missing:
        parts.append(f'lack {len(missing)} ({show(missing)})')
    if extra:
        parts.append(f'add {len(extra)} ({show(extra)})')
    return (f'differ: {len(got)} names against {len(expected)}; they '
            + ' and '.join(parts))


def check_class_order(expected: Sequence[str], expected_what: str,
                      got: Sequence[str], got_what: str,
                      fix: str) -> None:
    """Raise :class:`ClassOrderError` unless ``got`` equals ``expected``."""
    diff = class_order_mismatch(expected, got)
    if diff is None:
        return
    raise ClassOrderError(
        f'the classes of {got_what} {diff} compared with {expected_what}: '
        f'every score column would be read as another class. {fix}')


def classes_file_hint(classes: Sequence[str]) -> str:
    names = _names(classes)
    shown = ', '.join(repr(n) for n in names[:4])
    return (f'the same classes list (in this order: {shown}'
            f'{", ..." if len(names) > 4 else ""}), e.g. a classes file with '
            'one name per line given as classes=... to every split')
