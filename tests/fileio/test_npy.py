"""The one .npy header check (panda_viz.fileio.npy), and both readers that use it:
saved factors' .npz members and the official Us/Uc .npy files."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from panda_viz import PandA, load_factors, save_factors
from panda_viz.exceptions import FileLimitError, InvalidFileError, UnsafeFileError
from panda_viz.fileio.npy import (
    MAX_HEADER_BYTES,
    check_npy_dtype,
    check_npy_size,
    read_npy_data,
    read_npy_header,
)
from panda_viz.formats.official import read_factor_header


def _npy(array: np.ndarray, version: tuple[int, int]) -> bytes:
    """``array`` as .npy bytes of format ``version`` (3.0: a 2.0 file with its version byte changed,
    which is what numpy writes for an ASCII header)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=(1, 0) if version == (1, 0) else (2, 0))
    raw = bytearray(buffer.getvalue())
    raw[6:8] = bytes(version)
    return bytes(raw)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_every_version_numpy_writes_is_read_exactly(version, order):
    array = np.asarray(np.arange(12, dtype=">f4").reshape(3, 4), order=order)
    raw = _npy(array, version)
    f = io.BytesIO(raw)
    header = read_npy_header(f, size=len(raw), where="x.npy")
    assert (header.version, header.shape, header.fortran_order) == (version, (3, 4), order == "F")
    assert header.data_offset + header.nbytes == len(raw) == header.data_offset + header.data_bytes
    check_npy_dtype(header, kinds="f", where="x.npy")
    check_npy_size(header, where="x.npy")
    out = read_npy_data(f, header, where="x.npy")
    np.testing.assert_array_equal(out, array)
    assert out.dtype == np.float32 and out.dtype.isnative  # big-endian data, a native copy
    assert np.load(io.BytesIO(raw)).tolist() == out.tolist()  # numpy agrees


def test_headers_numpy_would_not_write_are_refused():
    raw = bytearray(_npy(np.zeros(3, np.float32), (2, 0)))
    raw[6] = 4
    with pytest.raises(InvalidFileError, match=r"x.npy: .npy format version 1.0, 2.0 or 3.0 expected; got \(4, 0\)"):
        read_npy_header(io.BytesIO(bytes(raw)), size=len(raw), where="x.npy")
    with pytest.raises(InvalidFileError, match=r"x.npy is not a .npy file: expected the magic string .* found b'PK"):
        read_npy_header(io.BytesIO(b"PK\x03\x04rest"), size=8, where="x.npy")
    long = b"\x93NUMPY\x02\x00" + (MAX_HEADER_BYTES + 1).to_bytes(4, "little") + b" " * (MAX_HEADER_BYTES + 1)
    with pytest.raises(FileLimitError, match=rf"declares a {MAX_HEADER_BYTES + 1}-byte header"):
        read_npy_header(io.BytesIO(long), size=len(long), where="x.npy")
    with pytest.raises(InvalidFileError, match=r"is truncated inside its header \(9 bytes in all\)"):
        read_npy_header(io.BytesIO(_npy(np.zeros(3, np.float32), (2, 0))[:9]), size=9, where="x.npy")


def test_dtypes_and_sizes_are_checked_before_the_data():
    raw = _npy(np.zeros((2, 2), np.int64), (1, 0))
    header = read_npy_header(io.BytesIO(raw), size=len(raw), where="x.npy")
    with pytest.raises(InvalidFileError, match=r"x.npy has dtype int64; expected floats \(float16, float32 or float64\)"):
        check_npy_dtype(header, kinds="f", where="x.npy")
    check_npy_dtype(header.__class__(header.version, (), False, np.dtype("<U3"), 0, 12), kinds="U", where="x.npy")
    obj = header.__class__(header.version, (2,), False, np.dtype(object), header.data_offset, 16)
    with pytest.raises(UnsafeFileError, match="an object array, which only pickle can read"):
        check_npy_dtype(obj, kinds="fU", where="x.npy")
    short = read_npy_header(io.BytesIO(raw[:-8]), size=len(raw) - 8, where="x.npy")
    with pytest.raises(InvalidFileError, match=r"x.npy is truncated: its header declares shape \(2, 2\) of int64 "
                                               r"\(32 bytes of data\), it holds 24"):
        check_npy_size(short, where="x.npy")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    model = PandA(3, random_state=0).fit(torch.relu(torch.randn(10, 6, 3, 4, generator=g)), layer="main.5")
    return model, save_factors(model, tmp_path_factory.mktemp("npy") / "f.npz")


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_both_readers_accept_the_same_versions(saved, tmp_path, version):
    model, path = saved
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    parts = model.parts_.numpy()
    members["parts.npy"] = _npy(parts, version)
    crafted = tmp_path / "crafted.npz"
    with zipfile.ZipFile(crafted, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    np.testing.assert_array_equal(load_factors(crafted).parts_.numpy(), parts)
    official = tmp_path / "Us-name_m-layer_1-rank_3.npy"
    official.write_bytes(_npy(parts.reshape(3, -1).T.copy(), version))
    assert read_factor_header(official, "parts (Us)").version == version


def test_both_readers_refuse_version_4_alike(saved, tmp_path):
    model, path = saved
    raw = bytearray(_npy(model.parts_.numpy(), (2, 0)))
    raw[6] = 4
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["parts.npy"] = bytes(raw)
    crafted = tmp_path / "crafted.npz"
    with zipfile.ZipFile(crafted, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    expected = r"format version 1.0, 2.0 or 3.0 expected; got \(4, 0\)"
    with pytest.raises(InvalidFileError, match=r"member 'parts.npy': .npy " + expected):
        load_factors(crafted)
    official = tmp_path / "Us-name_m-layer_1-rank_3.npy"
    official.write_bytes(bytes(raw))
    with pytest.raises(InvalidFileError, match=r"parts \(Us\) file 'Us-name_m-layer_1-rank_3.npy': .npy " + expected):
        read_factor_header(official, "parts (Us)")
