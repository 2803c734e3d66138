"""Reading ``.npz`` archives as data: only the members a format names, each one's header
checked before its bytes are inflated.

``numpy.load`` on an ``.npz`` reads whatever members a file holds, decompresses a member
whole before anything can look at it, and trusts its declared shape. The saved formats of
panda_viz (factors in :mod:`panda_viz.formats.factors`, inversions in :mod:`panda_viz.formats.inversions`)
read their archives through this module instead:

- :func:`open_archive`: the file is a zip archive (an ``.npy`` passed by mistake is named)
  whose central directory — the list of members, which ``zipfile`` reads whole and turns
  into one object per member before anything can count them — declares at most
  :data:`MAX_DIRECTORY_BYTES` and :data:`MAX_DIRECTORY_ENTRIES`;
- :func:`archive_members`: the members are ``.npy`` files, none twice, not too many, each
  one accepted by the format before anything is read;
- :func:`read_member`: compression method, declared size against a cap and against the
  compressed size (a zip bomb), ``.npy`` header (version, dtype, shape, byte count, checked
  by :mod:`panda_viz.fileio.npy`) — then and only then the data;
- :func:`read_metadata`: the format's JSON metadata member, parsed by
  :func:`panda_viz.fileio.json_data.parse_json`.

Every refusal is an :class:`~panda_viz.exceptions.InvalidFileError` (a
:class:`~panda_viz.exceptions.FileLimitError` for sizes past a limit) whose message names
the file, the format and the member.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..exceptions import FileLimitError, InvalidFileError
from .json_data import parse_json
from .npy import (
    NPY_MAGIC,
    check_npy_dtype,
    check_npy_size,
    read_npy_data,
    read_npy_header,
)

__all__ = ["MAX_INFLATION", "MAX_DIRECTORY_BYTES", "MAX_DIRECTORY_ENTRIES", "open_archive", "archive_members",
           "read_member", "read_metadata"]

#: How much a deflated member may grow when inflated (real factors compress about 1.1×; a zip
#: bomb reaches 1000×); members stored uncompressed, as ``np.savez`` writes, are 1×.
MAX_INFLATION = 64

#: The largest central directory (the archive's list of members) and the most entries it may
#: declare before ``zipfile`` reads it: an inversion of a 1024-px StyleGAN with every later
#: parameter tuned holds a few hundred members of about 100 bytes each.
MAX_DIRECTORY_BYTES = 4 << 20
MAX_DIRECTORY_ENTRIES = 65_536

_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"


def _fail(path: Path, what: str, why: str, error: type[InvalidFileError] = InvalidFileError) -> InvalidFileError:
    """The error to raise for a refused archive, naming the file and the format."""
    return error(f"{path}: not a valid panda_viz {what}: {why}", path)


def _declared_directory(f, size: int) -> tuple[int, int] | None:
    """(bytes, entries) of the central directory as the end record declares them (zip64 too); None if not found."""
    tail = min(size, 22 + 65_535)  # the end record, then a comment of up to 65,535 bytes
    f.seek(size - tail)
    data = f.read(tail)
    at = data.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(data) - at < 22:
        return None  # zipfile says what is wrong
    entries, directory_bytes = struct.unpack("<HI", data[at + 10:at + 16])
    if (entries == 0xFFFF or directory_bytes == 0xFFFFFFFF) and at >= 20 and data[at - 20:at - 16] == _ZIP64_LOCATOR:
        (offset,) = struct.unpack("<Q", data[at - 12:at - 4])
        if offset + 56 <= size:
            f.seek(offset)
            record = f.read(56)
            if record[:4] == _ZIP64_END:
                entries, directory_bytes = struct.unpack("<QQ", record[32:48])
    return directory_bytes, entries


def open_archive(path: Path, *, what: str, npy_hint: str = "") -> zipfile.ZipFile:
    """``path`` opened as a zip archive (close it, or use it in a ``with``).

    Parameters
    ----------
    path : Path
    what : str
        The format's name in messages, e.g. ``"factor file"``.
    npy_hint : str
        Said when the file is a single ``.npy`` array (where such files belong).
    """
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
        declared = _declared_directory(f, path.stat().st_size)
    if head == NPY_MAGIC:
        raise _fail(path, what, f"it is a single .npy array, not an .npz archive{npy_hint}")
    if declared is not None and (declared[0] > MAX_DIRECTORY_BYTES or declared[1] > MAX_DIRECTORY_ENTRIES):
        raise _fail(path, what, f"its central directory declares {declared[1]:,} members in {declared[0]:,} bytes; at most "
                                f"{MAX_DIRECTORY_ENTRIES:,} members in {MAX_DIRECTORY_BYTES:,} bytes are read", FileLimitError)
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise _fail(path, what, f"cannot be read as an .npz archive ({type(error).__name__}: {error})") from None


def archive_members(path: Path, archive: zipfile.ZipFile, *, what: str, accepts: Callable[[str], bool],
                    max_members: int, expected: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by array name (``"parts"`` for ``parts.npy``), all accepted.

    Parameters
    ----------
    accepts : callable
        ``accepts(name) -> bool`` for an array name the format defines.
    max_members : int
        More members than this are refused before any is looked at.
    expected : str
        What the format holds, for the message that refuses an unknown member.
    """
    infos = archive.infolist()
    if len(infos) > max_members:
        raise _fail(path, what, f"the archive holds {len(infos)} members; at most {max_members} expected", FileLimitError)
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _fail(path, what, "the archive holds a member twice")
    unknown = sorted(n for n in names if not (n.endswith(".npy") and accepts(n[:-4])))
    if unknown:
        raise _fail(path, what, f"unexpected archive members {unknown[:5]}; it holds only {expected} "
                                "(nothing else is read from it)")
    return {info.filename[:-4]: info for info in infos}


def read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, what: str, max_bytes: int,
                kinds: str, ndim: int | None = None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """One ``.npy`` member, its header checked before its data is decompressed.

    Parameters
    ----------
    max_bytes : int
        The largest member accepted (its declared, inflated size).
    kinds : str
        Allowed dtype kinds (``'f'`` float16/32/64, ``'U'`` unicode).
    ndim : int, optional
        The number of dimensions required.
    shape : tuple of int, optional
        The exact shape required (e.g. what the format's metadata implies).

    Returns
    -------
    numpy.ndarray
        A native-byte-order copy (never a view into the file).
    """
    member = info.filename
    where = f"member {member!r}"
    if info.flag_bits & 0x1:
        raise _fail(path, what, f"{where} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _fail(path, what, f"{where} uses zip compression method {info.compress_type}; .npz files are stored or deflated")
    if info.file_size > max_bytes:
        raise _fail(path, what, f"{where} declares {info.file_size:,} bytes; the limit is {max_bytes:,}", FileLimitError)
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_INFLATION * info.compress_size + (1 << 20):
        raise _fail(path, what, f"{where} would inflate {info.compress_size:,} bytes to {info.file_size:,} "
                                f"(more than {MAX_INFLATION}×): refused as a zip bomb", FileLimitError)
    located = f"{path}: not a valid panda_viz {what}: {where}"
    try:
        with archive.open(info) as f:
            header = read_npy_header(f, size=info.file_size, where=located, path=path)
            check_npy_dtype(header, kinds=kinds, where=located, path=path)
            if shape is not None and header.shape != tuple(shape):
                raise _fail(path, what, f"{where}: {member[:-4]} have shape {header.shape}; the metadata says {tuple(shape)}")
            if ndim is not None and len(header.shape) != ndim:
                raise _fail(path, what, f"{where} declares shape {header.shape}; expected {ndim} dimensions")
            check_npy_size(header, where=located, path=path)
            return read_npy_data(f, header, where=located, path=path)
    except InvalidFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, RuntimeError) as error:
        raise _fail(path, what, f"{where} is truncated or corrupt ({type(error).__name__}: {error})") from None


def read_metadata(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, what: str, max_bytes: int,
                  format: str, version: int, keys: Sequence[str], check: Callable[[dict], None]) -> dict:
    """A format's ``metadata`` member: a JSON object with ``keys``, its ``format`` and a
    ``format_version`` this package reads.

    ``check(metadata)`` validates the values (raising :class:`InvalidFileError`) after the
    keys and the format name are known good and before the version is compared.
    """
    text = read_member(path, archive, info, what=what, max_bytes=max_bytes, kinds="U", ndim=0)
    metadata = parse_json(str(text[()]), where=f"{path}: not a valid panda_viz {what}: its metadata",
                          what=f"{what} metadata", path=path)
    if not isinstance(metadata, dict):
        raise _fail(path, what, f"its metadata must be a JSON object; got {type(metadata).__name__}")
    missing = [key for key in keys if key not in metadata]
    if missing:
        raise _fail(path, what, f"metadata lacks keys {missing}")
    if metadata["format"] != format:
        raise _fail(path, what, f"format {metadata['format']!r}, expected {format!r}")
    check(metadata)
    if metadata["format_version"] > version:
        raise _fail(path, what, f"format version {metadata['format_version']} is newer than this panda_viz reads ({version})")
    return metadata
