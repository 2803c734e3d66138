"""The objects between the pickle reader and a file format, and the copy into plain data.

A format module (:mod:`~panda_viz.fileio.pickle_data`, :mod:`~panda_viz.fileio.torch_files`,
:mod:`~panda_viz.generators.nvlabs.network_pickle`) gives
:class:`~panda_viz.fileio.safe_pickle.RestrictedUnpickler` its allow-list as :class:`Handler`
objects, one per global; a handler may return a :class:`Placeholder` that becomes its final
object only once the stream has ended, or a :class:`PlainDict` for a dict-like class. What
the reader returns then goes through a :class:`Finisher`, which copies it into plain data
within :class:`~panda_viz.fileio.pickle_stream.PickleLimits` (depth, and values counted
each time a shared reference is reached) and finishes the placeholders.
"""

from __future__ import annotations

import abc
import collections
from typing import Any

from .._checks import describe
from ..exceptions import FileLimitError, InvalidFileError
from .pickle_stream import PickleLimits, PickleStream, gc_paused

__all__ = ["SCALAR_TYPES", "Handler", "Placeholder", "PlainDict", "Finisher"]

#: Values a dict key or set item may be: flat and cheap to hash.
SCALAR_TYPES = (str, int, float, bool, type(None), bytes)


class Handler:
    """An allow-listed global: what the stream gets when it names ``module.name``.

    Subclasses override :meth:`call` (for ``REDUCE``) and/or :meth:`new` (for ``NEWOBJ``);
    both receive the argument tuple the stream built and return data. ``reader`` is the
    running :class:`~panda_viz.fileio.safe_pickle.RestrictedUnpickler` (its ``fail`` names the
    file and the offset; its ``count`` charges a container).
    """

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def call(self, reader: PickleStream, args: tuple) -> Any:
        raise reader.unsafe(f"to call {self.qualname}: it is allowed only as an argument")

    def new(self, reader: PickleStream, args: tuple) -> Any:
        raise reader.unsafe(f"to instantiate {self.qualname} with NEWOBJ")

    def __repr__(self) -> str:
        return f"<allowed global {self.qualname}>"


class Placeholder(abc.ABC):
    """An object a handler returned that becomes its final value only once the stream ends.

    :meth:`build` receives a ``BUILD`` state (refused unless overridden); :meth:`finish`
    returns the final object, converting children through ``finisher(child, depth + 1)``.
    """

    def build(self, reader: PickleStream, state: Any) -> None:
        raise reader.fail(f"BUILD on {type(self).__name__.lstrip('_')} is not allowed (it would rewrite it after its checks)")

    @abc.abstractmethod
    def finish(self, finisher: Finisher, depth: int) -> Any:
        """The final object (children converted with ``finisher(child, depth + 1)``)."""


class PlainDict(dict):
    """What a handler returns for a dict-like class (``dnnlib.util.EasyDict``): it takes
    items, a ``BUILD`` of an empty instance state, and finishes as a plain ``dict``."""

    def build(self, reader: PickleStream, state: Any) -> None:
        if state not in (None, {}) and not (type(state) is tuple and len(state) == 2 and state[0] in (None, {})):
            raise reader.fail(f"BUILD on a dict-like object may not set attributes; got {describe(state)}")


class Finisher:
    """Turn what :meth:`RestrictedUnpickler.load <panda_viz.fileio.safe_pickle.RestrictedUnpickler.load>` returned
    into plain data, within limits.

    Containers are copied (lists, tuples, dicts, ``OrderedDict`` with its ``_metadata``,
    sets), placeholders become their final objects, and ``leaf_types`` pass through. The
    depth and the number of values visited (a shared reference counted each time it is
    reached) are capped, so a self-referencing or exponentially shared structure fails
    cleanly instead of recursing or expanding.

    Parameters
    ----------
    where : str
    leaf_types : tuple of type
        Final objects handlers produce (tensors, arrays, NumPy scalars).
    limits : PickleLimits
    error : type
    path : path, optional
    """

    def __init__(self, where: str, leaf_types: tuple[type, ...] = (), *, limits: PickleLimits = PickleLimits(),
                 error: type[InvalidFileError] = InvalidFileError, path: Any = None) -> None:
        self.where, self.leaf_types, self.limits, self.error, self.path = where, leaf_types, limits, error, path
        self.values = 0

    def fail(self, message: str) -> InvalidFileError:
        return self.error(f"{self.where}: {message}", self.path)

    def _charge(self, n: int) -> None:
        self.values += n
        if self.values > self.limits.max_values:
            raise FileLimitError(
                f"{self.where}: the data expands to more than {self.limits.max_values:,} values (shared references "
                "counted each time they are reached); nothing more was built", self.path,
            )

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth == 0:
            with gc_paused():
                return self._convert(value, 0)
        return self._convert(value, depth)

    def _convert(self, value: Any, depth: int) -> Any:
        if depth > self.limits.max_depth:
            raise FileLimitError(
                f"{self.where}: the data nests deeper than {self.limits.max_depth} levels (or refers to itself)", self.path
            )
        self._charge(1)
        kind = type(value)
        if kind in SCALAR_TYPES or kind is bytearray:
            return value
        if kind is list:
            self._charge(len(value))
            return [self(item, depth + 1) for item in value]
        if kind is tuple:
            self._charge(len(value))
            return tuple(self(item, depth + 1) for item in value)
        if kind is dict or kind is PlainDict:
            self._charge(len(value))
            return {key: self(item, depth + 1) for key, item in value.items()}
        if kind is collections.OrderedDict:
            self._charge(len(value))
            copy = collections.OrderedDict((key, self(item, depth + 1)) for key, item in value.items())
            if hasattr(value, "_metadata"):
                copy._metadata = self(value._metadata, depth + 1)  # type: ignore[attr-defined]
            return copy
        if kind in (set, frozenset):
            self._charge(len(value))
            return kind(value)  # items are flat scalars (checked when added)
        if isinstance(value, Placeholder):
            return value.finish(self, depth)
        if isinstance(value, self.leaf_types):
            return value
        if isinstance(value, Handler):
            raise self.fail(f"the allowed global {value.qualname} is stored as a value, not called")
        raise self.fail(f"unexpected {describe(value)} in the data")

