"""What plain data in a pickle may be built from: the allow-list every file format starts with.

:func:`data_handlers` maps the globals that pickled plain data names to
:class:`~panda_viz.fileio.pickle_objects.Handler` objects that check their arguments and
build the value: ``OrderedDict``, ``set`` and ``frozenset``, ``_codecs.encode`` (bytes in
protocols 0-2), and numeric NumPy dtypes, arrays and scalars (both ``numpy.core`` and
``numpy._core`` spellings). Format modules add their own on top
(:func:`~panda_viz.fileio.torch_files.torch_handlers`,
:mod:`~panda_viz.generators.nvlabs.network_pickle`), using :func:`check_stream_int`, :func:`check_stream_shape`
and :class:`TokenHandler` from here.
"""

from __future__ import annotations

import collections
import math
from typing import Any

from .._checks import describe
from .pickle_objects import SCALAR_TYPES, Finisher, Handler, Placeholder
from .safe_pickle import RestrictedUnpickler

__all__ = ["data_handlers", "check_stream_int", "check_stream_shape", "TokenHandler"]


def check_stream_int(reader: RestrictedUnpickler, value: Any, what: str, low: int = 0, high: int | None = None) -> int:
    """``value``, read from the stream, if it is an ``int`` in ``[low, high]``; else the
    reader's error (:meth:`~panda_viz.fileio.pickle_stream.PickleStream.fail`) naming ``what``."""
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise reader.fail(f"{what} must be an int {bound}; got {describe(value)}")
    return value


def check_stream_shape(reader: RestrictedUnpickler, value: Any, what: str, max_dims: int = 32) -> tuple[int, ...]:
    """``value``, read from the stream, as a shape: a tuple (or list) of at most ``max_dims`` ints >= 0."""
    if type(value) not in (tuple, list) or len(value) > max_dims:
        raise reader.fail(f"{what} must be a tuple of at most {max_dims} ints; got {describe(value)}")
    return tuple(check_stream_int(reader, item, f"each entry of {what}") for item in value)


class OrderedDictHandler(Handler):
    """``collections.OrderedDict()`` or ``OrderedDict([(key, value), ...])``."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> collections.OrderedDict:
        if not args:
            return collections.OrderedDict()
        if len(args) != 1 or type(args[0]) is not list:
            raise reader.fail(f"OrderedDict takes no arguments or a list of pairs; got {len(args)} arguments")
        result = collections.OrderedDict()
        for pair in args[0]:
            if type(pair) not in (tuple, list) or len(pair) != 2 or type(pair[0]) not in SCALAR_TYPES:
                raise reader.fail(f"an OrderedDict item must be a (key, value) pair with a scalar key; got {describe(pair)}")
            result[pair[0]] = pair[1]
        return result

    def new(self, reader: RestrictedUnpickler, args: tuple) -> collections.OrderedDict:
        return self.call(reader, args)


class SetHandler(Handler):
    """``set(items)`` / ``frozenset(items)`` (protocols 0-3 write sets this way); flat items only."""

    def __init__(self, qualname: str, kind: type) -> None:
        super().__init__(qualname)
        self.kind = kind

    def call(self, reader: RestrictedUnpickler, args: tuple) -> set | frozenset:
        if not args:
            return self.kind()
        if len(args) != 1 or type(args[0]) not in (list, tuple, set, frozenset):
            raise reader.fail(f"{self.qualname} takes one list of items; got {describe(args)}")
        items = args[0]
        if not all(type(item) in SCALAR_TYPES for item in items):
            raise reader.fail(f"{self.qualname} items must be str, numbers, bytes or None")
        return self.kind(items)


class CodecsEncodeHandler(Handler):
    """``_codecs.encode(text, 'latin1')``: how protocols 0-2 write ``bytes``; nothing else."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> bytes:
        if len(args) != 2 or type(args[0]) is not str or args[1] not in ("latin1", "latin-1"):
            raise reader.unsafe(f"_codecs.encode other than encode(str, 'latin1') (how protocols 0-2 write bytes); got {describe(args)}")
        try:
            return args[0].encode("latin-1")
        except UnicodeEncodeError:
            raise reader.fail("_codecs.encode(..., 'latin1') of text with characters above U+00FF") from None


class TokenHandler(Handler):
    """A global that is only ever an argument of another handler (``numpy.ndarray``)."""


# NumPy: numbers and arrays of numbers only (no object, void, structured or sub-array dtypes)
_NUMPY_KINDS = "biufc"


class _PendingDtype(Placeholder):
    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self.built = False

    def build(self, reader: RestrictedUnpickler, state: Any) -> None:
        if self.built:
            raise reader.fail("a NumPy dtype is built twice")
        if type(state) is not tuple or len(state) < 5 or state[1] not in ("<", ">", "|", "=") or any(s is not None for s in state[2:5]):
            raise reader.fail(f"only plain numeric NumPy dtypes are read (no fields, sub-arrays or names); got state {describe(state)}")
        self.dtype = self.dtype.newbyteorder(state[1]) if state[1] in "<>" else self.dtype
        self.built = True

    def finish(self, finisher: Finisher, depth: int) -> Any:
        return self.dtype


class NumpyDtypeHandler(Handler):
    """``numpy.dtype(code, align, copy)`` for numeric codes (``'f8'``, ``'i8'``, ``'b1'`` …)."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> _PendingDtype:
        import numpy as np

        code = args[0] if args else None
        if type(code) is not str or len(code) > 16:
            raise reader.fail(f"a NumPy dtype code must be a short str such as 'f8'; got {describe(code)}")
        try:
            dtype = np.dtype(code)
        except TypeError:
            raise reader.fail(f"unknown NumPy dtype code {describe(code)}") from None
        if dtype.kind not in _NUMPY_KINDS or dtype.itemsize > 16 or dtype.fields is not None or dtype.subdtype is not None:
            raise reader.unsafe(
                f"NumPy dtype {describe(code)} (kind {dtype.kind!r}): only bool, integer, float and complex dtypes "
                "are read (object and void dtypes can run code or claim gigabytes)"
            )
        return _PendingDtype(dtype)


class _PendingArray(Placeholder):
    def __init__(self) -> None:
        self.array = None

    def build(self, reader: RestrictedUnpickler, state: Any) -> None:
        import numpy as np

        if self.array is not None:
            raise reader.fail("a NumPy array is built twice")
        if type(state) is tuple and len(state) == 5:
            state = state[1:]
        if type(state) is not tuple or len(state) != 4:
            raise reader.fail(f"a NumPy array state must be (shape, dtype, fortran, data); got {describe(state)}")
        shape = check_stream_shape(reader, state[0], "a NumPy array's shape")
        dtype, fortran, raw = state[1], state[2], state[3]
        if not isinstance(dtype, _PendingDtype):
            raise reader.fail(f"a NumPy array's dtype must be a numeric dtype; got {describe(dtype)}")
        if type(raw) not in (bytes, bytearray) or type(fortran) is not bool:
            raise reader.unsafe("a NumPy array whose data is not raw bytes (object arrays)")
        expected = math.prod(shape) * dtype.dtype.itemsize
        if len(raw) != expected:
            raise reader.fail(
                f"a NumPy array declares shape {shape} of {dtype.dtype} ({expected:,} bytes) but holds {len(raw):,} bytes"
            )
        self.array = np.frombuffer(raw, dtype=dtype.dtype).reshape(shape, order="F" if fortran else "C").copy()

    def finish(self, finisher: Finisher, depth: int) -> Any:
        if self.array is None:
            raise finisher.fail("a NumPy array is created but never filled")
        return self.array


class NumpyReconstructHandler(Handler):
    """``numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')``, filled by BUILD."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> _PendingArray:
        if len(args) != 3 or not isinstance(args[0], TokenHandler) or args[0].qualname != "numpy.ndarray":
            raise reader.unsafe(f"numpy _reconstruct of anything but numpy.ndarray; got {describe(args)}")
        return _PendingArray()


class NumpyScalarHandler(Handler):
    """``numpy.core.multiarray.scalar(dtype, raw bytes)``: one number."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> Any:
        import numpy as np

        if len(args) != 2 or not isinstance(args[0], _PendingDtype) or type(args[1]) not in (bytes, bytearray):
            raise reader.unsafe("numpy scalar other than scalar(numeric dtype, bytes)")
        dtype = args[0].dtype
        if len(args[1]) != dtype.itemsize:
            raise reader.fail(f"a NumPy {dtype} scalar needs {dtype.itemsize} bytes; got {len(args[1])}")
        return np.frombuffer(args[1], dtype=dtype)[0]


class NumpyFromBufferHandler(Handler):
    """``numpy.core.numeric._frombuffer(data, dtype, shape, order)``: arrays in protocol 5."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> Any:
        import numpy as np

        if len(args) != 4 or type(args[0]) not in (bytes, bytearray) or not isinstance(args[1], _PendingDtype):
            raise reader.unsafe(f"numpy _frombuffer other than (bytes, numeric dtype, shape, order); got {describe(args)}")
        shape = check_stream_shape(reader, args[2], "a NumPy array's shape")
        if args[3] not in ("C", "F"):
            raise reader.fail(f"a NumPy array's order must be 'C' or 'F'; got {describe(args[3])}")
        dtype = args[1].dtype
        expected = math.prod(shape) * dtype.itemsize
        if len(args[0]) != expected:
            raise reader.fail(f"a NumPy array declares shape {shape} of {dtype} ({expected:,} bytes) but holds {len(args[0]):,} bytes")
        return np.frombuffer(args[0], dtype=dtype).reshape(shape, order=args[3]).copy()


def data_handlers() -> dict[tuple[str, str], Handler]:
    """Handlers for the globals plain data needs: OrderedDict, set, frozenset, bytes in
    protocols 0-2 (``_codecs.encode``) and numeric NumPy dtypes, arrays and scalars."""
    handlers: dict[tuple[str, str], Handler] = {
        ("collections", "OrderedDict"): OrderedDictHandler("collections.OrderedDict"),
        ("builtins", "set"): SetHandler("builtins.set", set),
        ("builtins", "frozenset"): SetHandler("builtins.frozenset", frozenset),
        ("_codecs", "encode"): CodecsEncodeHandler("_codecs.encode"),
        ("numpy", "dtype"): NumpyDtypeHandler("numpy.dtype"),
        ("numpy", "ndarray"): TokenHandler("numpy.ndarray"),
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        handlers[(module, "_reconstruct")] = NumpyReconstructHandler(f"{module}._reconstruct")
        handlers[(module, "scalar")] = NumpyScalarHandler(f"{module}.scalar")
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        handlers[(module, "_frombuffer")] = NumpyFromBufferHandler(f"{module}._frombuffer")
    return handlers
