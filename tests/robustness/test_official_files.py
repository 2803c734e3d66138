"""Official PandA factor files (Us-/Uc-…npy): bad and crafted files are refused clearly,
before their data are allocated, and without running code (issue 12); the official
Model.save()'s requested-rank naming loads with a warning (issue 15).

The embedded DCGAN's ``main.5`` (256 channels, 8×8) is the layer: the paper's default
ranks=[512, 8] on it is exactly the case where Model.save() names a 256×256 matrix rank 512.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pytest

from panda_viz.exceptions import (
    IncompatibleFactorsError,
    InvalidFileError,
    UnsafeFileError,
)
from panda_viz.formats.official import (
    MAX_FACTOR_ELEMENTS,
    load_official_factors,
    official_file_names,
    read_factor_header,
)

from .bounded import run_bounded
from .crafted import Calls

LAYER, C, S = "main.5", 256, 64
MODEL = "dcgan-digiface"


def write_pair(folder: Path, us: np.ndarray, uc: np.ndarray, us_rank: int | None = None, uc_rank: int | None = None):
    us_name, uc_name = official_file_names(MODEL, 1, us.shape[1] if us_rank is None else us_rank,
                                           uc.shape[1] if uc_rank is None else uc_rank)
    np.save(folder / us_name, us)
    np.save(folder / uc_name, uc)
    return folder / us_name, folder / uc_name


def factors(n_parts: int = 4, n_app: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 0.01, (S, n_parts)).astype(np.float32), np.linalg.qr(rng.standard_normal((C, C)))[0][:, :n_app].astype(np.float32)


def write_raw(path: Path, header: dict, data: bytes = b"", version=(1, 0)) -> Path:
    """A .npy file with exactly this header dict and these data bytes."""
    with path.open("wb") as f:
        (npformat.write_array_header_1_0 if version == (1, 0) else npformat.write_array_header_2_0)(f, header)
        f.write(data)
    return path


def load(us_path, uc_path, dcgan):
    return load_official_factors(us_path, uc_path, dcgan, layer=LAYER)


# ----------------------------------------------------------------------------- ranks
def test_requested_rank_naming_loads_with_a_warning_naming_both_numbers(tmp_path, dcgan):
    """decompose(ranks=[512, 8]) on 256 channels: Model.save() writes Uc-…-rank_512.npy holding 256×256."""
    Us, _ = factors(n_parts=8)
    Uc = np.linalg.qr(np.random.default_rng(1).standard_normal((C, C)))[0].astype(np.float32)
    us_path, uc_path = write_pair(tmp_path, Us, Uc, uc_rank=512)
    assert uc_path.name == "Uc-name_dcgan-digiface-layer_1-rank_512.npy"
    with pytest.warns(UserWarning, match=r"says rank 512 but holds a 256×256 matrix.*requested rank R_C = 512.*"
                                         r"min\(512, C\) = 256 columns; loading 256 appearances"):
        model = load(us_path, uc_path, dcgan)
    assert model.n_appearances == 256 and model.appearances_.shape == (256, 256) and model.parts_.shape == (8, 8, 8)
    np.testing.assert_array_equal(model.appearances_.numpy(), Uc)


@pytest.mark.parametrize("kind, shape, rank", [("Uc", (C, 100), 512), ("Uc", (C, 4), 8), ("Us", (S, 4), 512)])
def test_other_rank_disagreements_are_refused(tmp_path, dcgan, kind, shape, rank):
    Us, Uc = factors()
    matrix = np.zeros(shape, np.float32)
    us_path, uc_path = write_pair(tmp_path, matrix if kind == "Us" else Us, matrix if kind == "Uc" else Uc,
                                  **{f"{kind.lower()}_rank": rank})
    with pytest.raises(InvalidFileError, match=rf"says rank {rank} but holds a {shape[0]}×{shape[1]} matrix"):
        load(us_path, uc_path, dcgan)


@pytest.mark.parametrize("kind", ["Us", "Uc"])
def test_rank_zero_pair_is_refused(tmp_path, dcgan, kind):
    Us, Uc = factors()
    us_path, uc_path = write_pair(tmp_path, Us[:, :0] if kind == "Us" else Us, Uc[:, :0] if kind == "Uc" else Uc)
    what = "parts" if kind == "Us" else "appearances"
    with pytest.raises(InvalidFileError, match=rf"says rank 0 and holds a {S if kind == 'Us' else C}×0 matrix: "
                                               rf"rank 0, no {what}; a decomposition has at least one") as err:
        load(us_path, uc_path, dcgan)
    assert err.value.path == (us_path if kind == "Us" else uc_path)


def test_more_appearances_than_channels_are_refused(tmp_path, dcgan):
    """The official non-HOSVD init writes randn(C, R_C) with R_C > C: not a PandA of this layer."""
    Us, _ = factors()
    us_path, uc_path = write_pair(tmp_path, Us, np.zeros((C, 300), np.float32))
    with pytest.raises(IncompatibleFactorsError, match=r"R_C = 300 .* exceed S = 64, C = 256 of layer 'main.5'"):
        load(us_path, uc_path, dcgan)


def test_shapes_that_do_not_fit_the_layer_are_refused(tmp_path, dcgan):
    rng = np.random.default_rng(0)
    us_path, uc_path = write_pair(tmp_path, rng.uniform(0, 1, (256, 4)).astype(np.float32),
                                  np.zeros((128, 16), np.float32))
    with pytest.raises(IncompatibleFactorsError, match=r"\(parts 256×4\).*\(appearances 128×16\).*"
                                                       r"layer 'main.5'.*256×8×8.*S = 64 rows and appearances C = 256"):
        load(us_path, uc_path, dcgan)


# ----------------------------------------------------------------------------- dtypes, orders
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtypes_and_fortran_order_load_exactly(tmp_path, dcgan, dtype):
    Us, Uc = factors()
    us_path, uc_path = write_pair(tmp_path, Us.astype(dtype), np.asfortranarray(Uc.astype(dtype)))
    assert read_factor_header(uc_path).fortran_order
    model = load(us_path, uc_path, dcgan)
    np.testing.assert_array_equal(model.appearances_.numpy(), Uc.astype(dtype).astype(np.float32))
    np.testing.assert_array_equal(model.parts_.numpy(), Us.astype(dtype).astype(np.float32).T.reshape(4, 8, 8))


def test_object_array_is_refused_without_running_code(tmp_path, dcgan):
    marker = tmp_path / "ran"
    Us, _ = factors()
    us_path, uc_path = write_pair(tmp_path, Us, np.empty((C, 16), object))
    payload = np.empty((C, 16), object)
    payload[0, 0] = Calls(Path.touch, marker)
    np.save(uc_path, payload, allow_pickle=True)
    with pytest.raises(UnsafeFileError, match=r"Uc-name_.*rank_16.npy' has dtype object: an object array, which only "
                                              r"pickle can read.*expected floats"):
        load(us_path, uc_path, dcgan)
    assert not marker.exists()
    np.load(uc_path, allow_pickle=True)  # the payload is real: a pickle-enabled load runs it
    assert marker.exists()


@pytest.mark.parametrize("descr, found", [("|V2000000000", r"\|V2000000000"), ("<i8", "int64"), ("<c8", "complex64"),
                                          ([("a", "<f4"), ("b", "<f4")], r"\[\('a', '<f4'\), \('b', '<f4'\)\]")])
def test_other_dtypes_are_refused(tmp_path, dcgan, descr, found):
    Us, Uc = factors()
    us_path, uc_path = write_pair(tmp_path, Us, Uc)
    write_raw(uc_path, {"descr": descr, "fortran_order": False, "shape": (C, 16)})
    with pytest.raises(InvalidFileError, match=rf"'{uc_path.name}' has dtype {found}; expected floats \(float16, float32 "
                                               rf"or float64\)"):
        load(us_path, uc_path, dcgan)


# ----------------------------------------------------------------------------- broken files
def test_truncated_and_padded_files_are_refused(tmp_path, dcgan):
    Us, Uc = factors()
    us_path, uc_path = write_pair(tmp_path, Us, Uc)
    whole = us_path.read_bytes()
    us_path.write_bytes(whole[:-24])
    with pytest.raises(InvalidFileError, match=r"'Us-name_.*' is truncated: its header declares shape \(64, 4\) of float32 "
                                               r"\(1,024 bytes of data\), it holds 1,000"):
        load(us_path, uc_path, dcgan)
    us_path.write_bytes(whole + b"\x00" * 8)
    with pytest.raises(InvalidFileError, match=r"has 8 bytes after the data its header declares \(shape \(64, 4\) of float32"):
        load(us_path, uc_path, dcgan)
    us_path.write_bytes(whole[:9])
    with pytest.raises(InvalidFileError, match=r"is truncated inside its header \(9 bytes in all\)"):
        load(us_path, uc_path, dcgan)


def test_files_that_are_not_npy_are_refused(tmp_path, dcgan):
    Us, Uc = factors()
    us_path, uc_path = write_pair(tmp_path, Us, Uc)
    np.savez(tmp_path / "x.npz", a=Us)
    us_path.write_bytes((tmp_path / "x.npz").read_bytes())  # an .npz (zip) named .npy
    with pytest.raises(InvalidFileError, match=r"parts \(Us\) file 'Us-name_.*' is not a .npy file: expected the magic "
                                               r"string .* found b'PK"):
        load(us_path, uc_path, dcgan)
    us_path.write_bytes(b"")
    with pytest.raises(InvalidFileError, match="is not a .npy file"):
        load(us_path, uc_path, dcgan)
    write_raw(us_path, {"descr": "<f4", "fortran_order": False, "shape": (S, 4, 2)}, b"\x00" * (S * 8 * 4))
    with pytest.raises(InvalidFileError, match=r"holds an array of shape \(64, 4, 2\); a 2-D matrix expected"):
        load(us_path, uc_path, dcgan)
    us_path.write_bytes(b"\x93NUMPY\x01\x00" + (16).to_bytes(2, "little") + b"[1, 2]".ljust(15) + b"\n")
    with pytest.raises(InvalidFileError, match=r"has an unreadable .npy header: Header is not a dictionary"):
        load(us_path, uc_path, dcgan)
    us_path.write_bytes(b"\x93NUMPY\x01\x00" + (70).to_bytes(2, "little") + b"(" * 69 + b"\n")
    with pytest.raises(InvalidFileError, match="has an unreadable .npy header"):
        load(us_path, uc_path, dcgan)
    us_path.write_bytes(b"\x93NUMPY\x07\x00" + b"\x00" * 60)
    with pytest.raises(InvalidFileError, match=r"(not a .npy file|version 1.0, 2.0 or 3.0 expected)"):
        load(us_path, uc_path, dcgan)


def test_non_finite_and_negative_values_are_refused(tmp_path, dcgan):
    Us, Uc = factors()
    Uc[3, 2] = np.nan
    us_path, uc_path = write_pair(tmp_path, Us, Uc)
    with pytest.raises(InvalidFileError, match=r"appearances \(Uc\) file 'Uc-.*' holds non-finite values"):
        load(us_path, uc_path, dcgan)
    Us[0, 0] = -1
    us_path, uc_path = write_pair(tmp_path, Us, factors()[1])
    with pytest.raises(InvalidFileError, match=r"parts file 'Us-.*' has negative entries \(min -1\)"):
        load(us_path, uc_path, dcgan)


def test_special_files_are_refused_without_blocking(tmp_path, dcgan):
    Us, Uc = factors()
    us_path, uc_path = write_pair(tmp_path, Us, Uc)
    uc_path.unlink()
    os.mkfifo(uc_path)  # opening a FIFO would block until a writer comes
    with pytest.raises(InvalidFileError, match=r"appearances \(Uc\) file '.*rank_16.npy' is not a regular file"):
        load(us_path, uc_path, dcgan)
    uc_path.unlink()
    uc_path.mkdir()
    with pytest.raises(InvalidFileError, match="is not a regular file"):
        load(us_path, uc_path, dcgan)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "Us-name_x-layer_1-rank_4.npy", tmp_path / "Uc-name_x-layer_1-rank_16.npy", dcgan)


def test_declared_sizes_past_the_limits_allocate_nothing(tmp_path):
    """Headers declaring a 10¹²-entry matrix, a 2 GB void dtype or a 4 GB header: refused in a
    child under a 300 MB address-space limit, quickly."""
    huge = write_raw(tmp_path / "Us-name_m-layer_1-rank_1000000.npy",
                     {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}, b"\x00" * 64)
    void = write_raw(tmp_path / "Uc-name_m-layer_1-rank_4.npy",
                     {"descr": "|V2000000000", "fortran_order": False, "shape": (C, 4)})
    long_header = tmp_path / "Us-name_m-layer_1-rank_4.npy"
    long_header.write_bytes(b"\x93NUMPY\x02\x00" + (2**32 - 1).to_bytes(4, "little") + b"{" * 100)
    outcome = run_bounded(f"""
from panda_viz.formats.official import read_factor_header
errors = []
for path in {[str(huge), str(void), str(long_header)]!r}:
    try:
        read_factor_header(path)
        errors.append(None)
    except Exception as err:
        errors.append([type(err).__name__, str(err)])
RESULT = errors
""", memory_mb=300, timeout_s=20)
    assert outcome.error_type is None, outcome.error_message
    (huge_type, huge_msg), (void_type, void_msg), (header_type, header_msg) = outcome.result
    assert huge_type == "FileLimitError" and f"1000000×1000000 matrix (1000000000000 entries); at most {MAX_FACTOR_ELEMENTS}" in huge_msg
    assert void_type == "InvalidFileError" and "has dtype |V2000000000" in void_msg
    assert header_type == "FileLimitError" and "declares a 4294967295-byte header" in header_msg
    assert outcome.peak_rss_mb < 600
