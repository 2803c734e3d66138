"""Crafting .npz archives at test time: members rewritten, bare .npy headers, and deflate bombs.

:func:`bomb` writes a member of ``header`` then zeros up to gigabytes, deflated about
1000× (a 1.5 GB member in under 2 MB), in about a second: each 16 MB chunk of zeros becomes
the same precompressed deflate blocks.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(descr: str, shape: tuple) -> bytes:
    """A bare .npy header declaring ``descr`` and ``shape``, followed by no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


class Repeat:
    """A stand-in compressor for zipfile: each 16 MB chunk of zeros becomes the same
    precompressed deflate blocks (made once), so a 1.5 GB bomb takes a second to build."""

    def __init__(self, chunk: bytes) -> None:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, self-contained
        self.size = len(chunk)

    def compress(self, data: bytes) -> bytes:
        assert len(data) == self.size
        return self.block

    def flush(self) -> bytes:
        return zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # the final, empty block


def bomb(path: Path, members: dict[str, bytes], name: str, header: bytes, inflated: int) -> Path:
    """``members`` plus ``name``: ``header`` then zeros up to ``inflated`` bytes, deflated (≈ 1000×)."""
    chunk = bytes(16 << 20)
    assert (inflated - len(header)) % len(chunk) == 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            if member != name:
                zf.writestr(member, data)
        with zf.open(name, "w", force_zip64=True) as f:
            f._compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            f.write(header)
            f._fileobj.write(f._compressor.flush(zlib.Z_FULL_FLUSH))
            f._compressor = Repeat(chunk)
            for _ in range((inflated - len(header)) // len(chunk)):
                f.write(chunk)
    return path
