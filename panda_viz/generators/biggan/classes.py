"""ImageNet's 1000 classes for BigGAN: the names shipped with panda_viz, and a class from an index or a name."""

from __future__ import annotations

import difflib
import operator
from functools import lru_cache
from importlib import resources
from typing import Any, Union

import numpy as np

from ..._checks import check_int, describe, is_int
from ...exceptions import InvalidInputError, InvalidStateError, InvalidTypeError

__all__ = ["ClassSpec", "imagenet_classes", "imagenet_class_index"]

#: A class as callers name one: an ImageNet index or a class name.
ClassSpec = Union[int, str]


@lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    source = resources.files("panda_viz.generators.biggan") / "imagenet_classes.txt"
    names = tuple(line for line in source.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#"))
    if len(names) != 1000:
        raise InvalidStateError(
            f"the installed panda_viz is broken: {source} must list 1000 ImageNet classes, it lists {len(names)} "
            "(reinstall panda_viz)"
        )
    return names


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names; index k is class k (``[207] == 'golden retriever'``)."""
    return list(_class_names())


def imagenet_class_index(cls: ClassSpec | Any, num_classes: int = 1000) -> int:
    """An ImageNet class index from an index or a name (case, spaces and underscores ignored).

    Raises
    ------
    InvalidTypeError
        Neither an integer (anything with ``__index__`` but a bool) nor a str.
    InvalidInputError
        Unknown or ambiguous names (with close matches or the candidates), indices out of range.
    """
    if not is_int(cls) and not isinstance(cls, (str, bool, np.bool_)) and hasattr(cls, "__index__"):
        cls = operator.index(cls)  # a 0-d integer tensor, say
    if is_int(cls):
        return check_int("class index", cls, low=0, high=num_classes - 1)
    if not isinstance(cls, str):
        raise InvalidTypeError(f"a class must be an int index or a str name; got {type(cls).__name__} {describe(cls)}")
    if num_classes != 1000:
        raise InvalidInputError(f"class names are ImageNet's 1000; this generator has {num_classes} classes: use indices")
    key = cls.strip().lower().replace("_", " ")
    names = _class_names()
    matches = [i for i, name in enumerate(names) if name.lower() == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidInputError(f"class name {cls!r} is ambiguous: ImageNet classes {matches} share it; pass an index")
    close = difflib.get_close_matches(key, [n.lower() for n in names], n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise InvalidInputError(f"unknown ImageNet class name {cls!r}{hint}")
