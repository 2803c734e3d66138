"""The ``.npy`` format read as data: one header check for every ``.npy`` panda_viz reads.

An ``.npy`` file (alone, as the official PandA factor files are, or as a member of an
``.npz`` archive) starts with a header that declares the array's dtype, order and shape.
``numpy.load`` trusts that header and allocates what it declares. Here the header is read
and checked first, and the data only after:

- :func:`read_npy_header`: the magic string, a format version numpy writes (1.0, 2.0 or
  3.0), a header length within :data:`MAX_HEADER_BYTES` and within the bytes there are,
  then numpy's own parser for the header dictionary;
- :func:`check_npy_dtype`: a dtype the format allows (object arrays, which only pickle can
  read, are :class:`~panda_viz.exceptions.UnsafeFileError`);
- :func:`check_npy_size`: the data after the header are exactly what the shape and dtype
  declare (no truncation, no trailing bytes);
- :func:`read_npy_data`: the data, as a native-byte-order copy.

The shape a format needs (2-D, the metadata's shape, an element cap) is the format's own
check (:mod:`panda_viz.fileio.npz`, :mod:`panda_viz.formats.official`). Every message
starts with the caller's ``where`` (which file, which member).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.lib.format as npformat

from ..exceptions import FileLimitError, InvalidFileError, UnsafeFileError

__all__ = [
    "NPY_MAGIC",
    "NPY_VERSIONS",
    "MAX_HEADER_BYTES",
    "NpyHeader",
    "read_npy_header",
    "check_npy_dtype",
    "check_npy_size",
    "read_npy_data",
]

#: The first bytes of an ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"
#: The format versions numpy writes (3.0 only differs from 2.0 by a UTF-8 header).
NPY_VERSIONS = ((1, 0), (2, 0), (3, 0))
#: Longest header read (numpy's own ``max_header_size`` default); a float matrix's is 128 bytes.
MAX_HEADER_BYTES = 10_000

_KINDS = {"f": "floats (float16, float32 or float64)", "U": "a unicode string"}


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` header declares, read without touching the data.

    Attributes
    ----------
    version : tuple of int
        The format version, e.g. ``(1, 0)``.
    shape : tuple of int
    fortran_order : bool
    dtype : numpy.dtype
    data_offset : int
        Where the data start (bytes from the start of the ``.npy``).
    data_bytes : int
        The bytes the ``.npy`` holds after the header.
    """

    version: tuple[int, int]
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    data_offset: int
    data_bytes: int

    @property
    def nbytes(self) -> int:
        """The bytes the declared shape and dtype need."""
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """``"shape (64, 4) of float32"``, for messages."""
        return f"shape {self.shape} of {self.dtype}"


def read_npy_header(f: BinaryIO, *, size: int, where: str, path: str | Path | None = None) -> NpyHeader:
    """Read and check the header of the ``.npy`` that starts at ``f``'s position.

    Parameters
    ----------
    f : binary file
        Positioned at the magic string; left at the first byte of the data.
    size : int
        The bytes of the whole ``.npy`` (the file's or the archive member's size).
    where : str
        How messages name it (``"parts (Us) file 'Us-….npy'"``, ``"….npz: member 'parts.npy'"``).
    path : str or Path, optional
        The file, for the error's ``path``.

    Returns
    -------
    NpyHeader

    Raises
    ------
    InvalidFileError
        Not an ``.npy`` (magic), another format version, a header cut short or that numpy
        cannot parse.
    FileLimitError
        A header longer than :data:`MAX_HEADER_BYTES` or than the bytes there are.
    """
    prefix = f.read(len(NPY_MAGIC) + 2)
    if len(prefix) < len(NPY_MAGIC) + 2 or not prefix.startswith(NPY_MAGIC):
        raise InvalidFileError(f"{where} is not a .npy file: expected the magic string b'\\x93NUMPY' and a version, "
                               f"found {prefix!r}", path)
    version = (prefix[6], prefix[7])
    if version not in NPY_VERSIONS:
        raise InvalidFileError(f"{where}: .npy format version 1.0, 2.0 or 3.0 expected; got {version}", path)
    length_bytes = 2 if version == (1, 0) else 4
    raw_length = f.read(length_bytes)
    if len(raw_length) != length_bytes:
        raise InvalidFileError(f"{where} is truncated inside its header ({size} bytes in all)", path)
    start = len(prefix) + length_bytes
    header_length = int.from_bytes(raw_length, "little")
    if header_length > MAX_HEADER_BYTES or start + header_length > size:
        raise FileLimitError(
            f"{where} declares a {header_length}-byte header; at most {min(MAX_HEADER_BYTES, max(size - start, 0))} "
            f"bytes expected (limit {MAX_HEADER_BYTES}, {size} bytes in all)", path)
    text = f.read(header_length)
    if len(text) != header_length:
        raise InvalidFileError(f"{where} is truncated inside its header ({size} bytes in all)", path)
    # numpy parses the dictionary from the bounded bytes already read; 3.0 is 2.0's layout
    reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
    try:
        shape, fortran_order, dtype = reader(io.BytesIO(raw_length + text), max_header_size=MAX_HEADER_BYTES)
    except Exception as err:  # numpy's parser raises ValueError, SyntaxError, tokenize's TokenError, RecursionError…
        raise InvalidFileError(f"{where} has an unreadable .npy header: {err}", path) from err
    offset = start + header_length
    return NpyHeader(version, tuple(shape), bool(fortran_order), dtype, offset, size - offset)


def check_npy_dtype(header: NpyHeader, *, kinds: str, where: str, path: str | Path | None = None) -> None:
    """Refuse a dtype outside ``kinds``: ``"f"`` (float16/32/64), ``"U"`` (unicode), or both.

    Raises
    ------
    UnsafeFileError
        An object array: only pickle reads one, running code from the file.
    InvalidFileError
        Any other dtype outside ``kinds``, structured and sub-array dtypes, other float sizes.
    """
    dtype = header.dtype
    expected = " or ".join(_KINDS[kind] for kind in kinds)
    if dtype.hasobject:
        raise UnsafeFileError(
            f"{where} has dtype {dtype}: an object array, which only pickle can read (running code from the file); "
            f"expected {expected}", path)
    if (dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None
            or (dtype.kind == "f" and dtype.itemsize not in (2, 4, 8))):
        raise InvalidFileError(f"{where} has dtype {dtype}; expected {expected}", path)


def check_npy_size(header: NpyHeader, *, where: str, path: str | Path | None = None) -> None:
    """Refuse data shorter (truncated) or longer than the header declares."""
    if header.data_bytes < header.nbytes:
        raise InvalidFileError(
            f"{where} is truncated: its header declares {header.describe()} ({header.nbytes:,} bytes of data), "
            f"it holds {header.data_bytes:,}", path)
    if header.data_bytes > header.nbytes:
        raise InvalidFileError(
            f"{where} has {header.data_bytes - header.nbytes:,} bytes after the data its header declares "
            f"({header.describe()}, {header.nbytes:,} bytes)", path)


def read_npy_data(f: BinaryIO, header: NpyHeader, *, where: str, path: str | Path | None = None,
                  dtype: np.dtype | type | None = None) -> np.ndarray:
    """The array a checked header describes, read from ``f``'s position (the data's start).

    Parameters
    ----------
    dtype : numpy dtype, optional
        Convert to it (default: the declared dtype in native byte order).

    Returns
    -------
    numpy.ndarray
        A copy (never a view into the file), in the declared order.

    Raises
    ------
    InvalidFileError
        Fewer bytes than declared (the file changed since its header was read).
    """
    data = f.read(header.nbytes)
    if len(data) != header.nbytes:
        raise InvalidFileError(f"{where} is truncated: {len(data):,} of {header.nbytes:,} bytes of data", path)
    array = np.frombuffer(data, dtype=header.dtype).reshape(header.shape, order="F" if header.fortran_order else "C")
    return array.astype(header.dtype.newbyteorder("=") if dtype is None else dtype, copy=True)
