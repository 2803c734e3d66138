"""Reading ``.npz`` archives as data: only the members a format names, each one's header
checked before its bytes are inflated.

``numpy.load`` on an ``.npz`` reads whatever members a file holds, decompresses a member
whole before anything can look at it, and trusts its declared shape. The saved formats of
panda_viz (factors in :mod:`panda_viz.formats.factors`, inversions in :mod:`panda_viz.formats.inversions`)
read their archives through this module instead:

- :func:`open_archive`: the file is a zip archive (an ``.npy`` passed by mistake is named);
- :func:`archive_members`: the members are ``.npy`` files, none twice, not too many, each
  one accepted by the format before anything is read;
- :func:`read_member`: compression method, declared size against a cap and against the
  compressed size (a zip bomb), ``.npy`` header (version, dtype, shape, byte count) — then
  and only then the data.

Every refusal is an :class:`~panda_viz.exceptions.InvalidFileError` (a
:class:`~panda_viz.exceptions.FileLimitError` for sizes past a limit) whose message names
the file, the format and the member.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..exceptions import FileLimitError, InvalidFileError

__all__ = ["MAX_INFLATION", "NPY_MAGIC", "open_archive", "archive_members", "read_member", "read_metadata"]

#: How much a deflated member may grow when inflated (real factors compress about 1.1×; a zip
#: bomb reaches 1000×); members stored uncompressed, as ``np.savez`` writes, are 1×.
MAX_INFLATION = 64
#: The first bytes of an ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"


def _fail(path: Path, what: str, why: str, error: type[InvalidFileError] = InvalidFileError):
    raise error(f"{path}: not a valid panda_viz {what}: {why}", path)


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
    if head == NPY_MAGIC:
        _fail(path, what, f"it is a single .npy array, not an .npz archive{npy_hint}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        _fail(path, what, f"cannot be read as an .npz archive ({type(error).__name__}: {error})")


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
        _fail(path, what, f"the archive holds {len(infos)} members; at most {max_members} expected", FileLimitError)
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        _fail(path, what, "the archive holds a member twice")
    unknown = sorted(n for n in names if not (n.endswith(".npy") and accepts(n[:-4])))
    if unknown:
        _fail(path, what, f"unexpected archive members {unknown[:5]}; it holds only {expected} "
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
        _fail(path, what, f"{where} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        _fail(path, what, f"{where} uses zip compression method {info.compress_type}; .npz files are stored or deflated")
    if info.file_size > max_bytes:
        _fail(path, what, f"{where} declares {info.file_size:,} bytes; the limit is {max_bytes:,}", FileLimitError)
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_INFLATION * info.compress_size + (1 << 20):
        _fail(path, what, f"{where} would inflate {info.compress_size:,} bytes to {info.file_size:,} "
                          f"(more than {MAX_INFLATION}×): refused as a zip bomb", FileLimitError)
    try:
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                declared, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                declared, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                _fail(path, what, f"{where} is .npy format version {version}; expected 1.0 or 2.0")
            if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None:
                _fail(path, what, f"{where} has dtype {dtype}; expected {'floats' if kinds == 'f' else 'a unicode string'}")
            if dtype.kind == "f" and dtype.itemsize not in (2, 4, 8):
                _fail(path, what, f"{where} has dtype {dtype}; expected float16, float32 or float64")
            if shape is not None and tuple(declared) != tuple(shape):
                _fail(path, what, f"{where}: {member[:-4]} have shape {tuple(declared)}; the metadata says {tuple(shape)}")
            if ndim is not None and len(declared) != ndim:
                _fail(path, what, f"{where} declares shape {tuple(declared)}; expected {ndim} dimensions")
            nbytes = math.prod(declared) * dtype.itemsize
            header = f.tell()
            if header + nbytes != info.file_size:
                _fail(path, what, f"{where} declares shape {tuple(declared)} of {dtype} ({nbytes:,} bytes) but holds "
                                  f"{info.file_size - header:,} bytes of data")
            data = f.read(nbytes)
    except InvalidFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, RuntimeError) as error:
        _fail(path, what, f"{where} is truncated or corrupt ({type(error).__name__}: {error})")
    if len(data) != nbytes:
        _fail(path, what, f"{where} is truncated: {len(data):,} of {nbytes:,} bytes")
    array = np.frombuffer(data, dtype=dtype).reshape(declared, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_metadata(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, what: str, max_bytes: int,
                  format: str, version: int, keys: Sequence[str], check: Callable[[dict], None]) -> dict:
    """A format's ``metadata`` member: a JSON object with ``keys``, its ``format`` and a
    ``format_version`` this package reads.

    ``check(metadata)`` validates the values (raising :class:`InvalidFileError`) after the
    keys and the format name are known good and before the version is compared.
    """
    text = read_member(path, archive, info, what=what, max_bytes=max_bytes, kinds="U", ndim=0)
    try:
        metadata = json.loads(str(text[()]))
    except (json.JSONDecodeError, TypeError, ValueError, RecursionError) as error:
        _fail(path, what, f"its metadata is not JSON ({type(error).__name__}: {str(error)[:200]})")
    if not isinstance(metadata, dict):
        _fail(path, what, f"its metadata must be a JSON object; got {type(metadata).__name__}")
    missing = [key for key in keys if key not in metadata]
    if missing:
        _fail(path, what, f"metadata lacks keys {missing}")
    if metadata["format"] != format:
        _fail(path, what, f"format {metadata['format']!r}, expected {format!r}")
    check(metadata)
    if metadata["format_version"] > version:
        _fail(path, what, f"format version {metadata['format_version']} is newer than this panda_viz reads ({version})")
    return metadata
