"""Saved factor files (.npz) crafted to blow memory, mislead or break the reader; and leftovers of killed writes.

Every bad file is made here, at test time. A refusal must be an InvalidFileError naming
the file (and the member where there is one), and nothing may be decompressed or
allocated beyond what a real factor file of that size needs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from panda_viz import PandA, load_factors, save_factors
from panda_viz.exceptions import FileLimitError, InvalidFileError, InvalidInputError
from panda_viz.fileio.atomic import remove_stale_temporaries, temporary_name

from .bounded import REPO, run_bounded
from .crafted_archives import bomb as _bomb
from .crafted_archives import members as _members
from .crafted_archives import npy as _npy
from .crafted_archives import npy_header as _npy_header
from .crafted_archives import write_zip as _write_zip


@pytest.fixture(scope="module")
def model():
    g = torch.Generator().manual_seed(0)
    Z = torch.relu(torch.randn(20, 6, 3, 4, generator=g))
    return PandA(3, random_state=0).fit(Z, layer="main.5", generator_name="dcgan-digiface")


@pytest.fixture()
def good(model, tmp_path) -> Path:
    return save_factors(model, tmp_path / "good.npz")


# ------------------------------------------------------------------------------ bombs
@pytest.fixture(scope="module")
def bombs(model, tmp_path_factory):
    """The issue's 1.5 GB bomb as an extra member, and as a parts array its metadata agrees with."""
    folder = tmp_path_factory.mktemp("bombs")
    members = _members(save_factors(model, folder / "good.npz"))
    n = 90 * (16 << 20) // 4  # 1.5 GB of float32
    extra = _bomb(folder / "extra.npz", members, "extra.npy", _npy_header("<f4", (n,)), 128 + 4 * n)
    meta = json.loads(str(np.load(io.BytesIO(members["metadata.npy"]))[()]))
    meta.update(n_parts=1, feature_shape=[6, 16 << 10, n // (16 << 10)])  # parts (1, 16384, 23040) float32
    big = dict(members, **{"metadata.npy": _npy(np.array(json.dumps(meta)))})
    parts = _bomb(folder / "parts.npz", big, "parts.npy", _npy_header("<f4", (1, 16 << 10, n // (16 << 10))), 128 + 4 * n)
    return extra, parts


def test_the_bombs_are_small_files_that_inflate_to_1_5_gb(bombs):
    for path in bombs:
        assert path.stat().st_size < 2_000_000
        with zipfile.ZipFile(path) as zf:
            assert max(i.file_size for i in zf.infolist()) >= 1_500_000_000
            bomb = max(zf.infolist(), key=lambda i: i.file_size)
            with zf.open(bomb) as f:  # a real deflate stream: the first megabytes inflate to zeros
                f.read(128)
                assert f.read(1 << 22) == bytes(1 << 22)


def test_an_extra_member_is_refused_unread(bombs):
    outcome = run_bounded(f"from panda_viz import load_factors\nload_factors({str(bombs[0])!r})", memory_mb=500, timeout_s=20)
    assert outcome.error_type == "InvalidFileError", outcome
    assert "unexpected archive members ['extra.npy']" in outcome.error_message and "extra.npz" in outcome.error_message
    assert outcome.peak_rss_mb < 500 and outcome.seconds < 10


def test_a_parts_bomb_is_refused_before_decompression(bombs):
    outcome = run_bounded(f"from panda_viz import load_factors\nload_factors({str(bombs[1])!r})", memory_mb=500, timeout_s=20)
    assert outcome.error_type == "FileLimitError", outcome
    assert "member 'parts.npy' would inflate" in outcome.error_message and "zip bomb" in outcome.error_message
    assert outcome.peak_rss_mb < 500 and outcome.seconds < 10


def test_a_member_past_the_size_limit_is_refused(good, tmp_path, monkeypatch):
    import panda_viz.formats.factors as io_module

    monkeypatch.setattr(io_module, "MAX_ARRAY_BYTES", 64)
    with pytest.raises(FileLimitError, match=r"member 'parts.npy' declares \d+ bytes; the limit is 64"):
        load_factors(good)


@pytest.mark.parametrize(
    ("descr", "shape", "match"),
    [
        ("|V2000000000", (), r"member 'parts.npy' has dtype \|V2000000000; expected floats"),
        ("|O", (3, 3, 4), r"member 'parts.npy' has dtype object: an object array, which only pickle can read"),
        ("<i8", (3, 3, 4), r"member 'parts.npy' has dtype int64; expected floats"),
        ("<f4", (3, 3, 40_000_000), r"parts have shape \(3, 3, 40000000\); the metadata says \(3, 3, 4\)"),
        ("<f4", (3, 3, 4), r"member 'parts.npy' is truncated: its header declares shape \(3, 3, 4\) of float32 \(144 bytes of data\), it holds 0"),
    ],
)
def test_a_declared_dtype_or_shape_is_checked_before_reading(good, tmp_path, descr, shape, match):
    members = _members(good)
    members["parts.npy"] = _npy_header(descr, shape)
    path = _write_zip(tmp_path / "crafted.npz", members)
    with pytest.raises(InvalidFileError, match=match) as info:
        load_factors(path)
    assert info.value.path == path and str(path) in str(info.value)


def test_a_void_dtype_of_2_gb_allocates_nothing(good, tmp_path):
    members = _members(good)
    members["parts.npy"] = _npy_header("|V2000000000", (1,))
    path = _write_zip(tmp_path / "void.npz", members)
    outcome = run_bounded(f"from panda_viz import load_factors\nload_factors({str(path)!r})", memory_mb=300)
    assert outcome.error_type == "InvalidFileError" and "dtype |V2000000000" in outcome.error_message
    assert outcome.peak_rss_mb < 500


def test_a_lone_npy_is_named_as_such(tmp_path):
    path = tmp_path / "Us-name_x-layer_5-rank_8.npz"
    np.save(path.with_suffix(""), np.ones((8, 16), np.float32))
    path.with_suffix(".npy").rename(path)
    with pytest.raises(InvalidFileError, match=r"single \.npy array, not an \.npz archive.*load_official_factors"):
        load_factors(path)


def test_every_truncation_is_a_clear_error(good, tmp_path):
    data = good.read_bytes()
    cuts = sorted({1, 2, 6, 10, 30, 64, 100, 200, 400, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 22,
                   len(data) - 1})
    for cut in cuts:
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(data[:cut])
        with pytest.raises(InvalidFileError, match="not a valid panda_viz factor file") as info:
            load_factors(path)
        assert str(path) in str(info.value)


def test_a_corrupt_deflated_member_names_the_member(good, tmp_path):
    members = _members(good)
    members["parts.npy"] = _npy(np.full((3, 3, 4), 0.5, np.float32))
    path = _write_zip(tmp_path / "deflated.npz", members, compression=zipfile.ZIP_DEFLATED)
    assert load_factors(path).parts_.shape == (3, 3, 4)  # a compressed archive (np.savez_compressed) is fine
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("parts.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidFileError, match="member 'parts.npy' is truncated or corrupt"):
        load_factors(path)


@pytest.mark.parametrize(
    ("member", "array", "match"),
    [
        ("parts.npy", np.full((3, 3, 4), np.nan, np.float32), r"member 'parts.npy': parts must be finite floats; found 36"),
        ("appearances.npy", np.full((6, 6), np.inf, np.float32), r"member 'appearances.npy': appearances must be finite"),
        ("loss_history.npy", np.array([0.5, np.nan]), r"member 'loss_history.npy': loss_history must be finite"),
        ("metadata.npy", np.array("[" * 50_000 + "]" * 50_000), r"its metadata nests too deeply to be factor file metadata \(.*RecursionError"),
        ("metadata.npy", np.array(b"{}"), r"member 'metadata.npy' has dtype \|S2; expected a unicode string"),
    ],
)
def test_bad_values_name_the_member(good, tmp_path, member, array, match):
    members = _members(good)
    members[member] = _npy(array)
    with pytest.raises(InvalidFileError, match=match):
        load_factors(_write_zip(tmp_path / "bad.npz", members))


# ------------------------------------------------------------------------------ saving
def test_a_rank_0_model_is_refused_at_save_time(model, tmp_path):
    empty = PandA(3)
    for name in ("parts_", "appearances_", "feature_shape_"):
        setattr(empty, name, getattr(model, name))
    empty.parts_ = model.parts_[:0]
    with pytest.raises(InvalidInputError, match="the model has 0 parts and 6 appearances; .*rank-0"):
        save_factors(empty, tmp_path / "empty.npz")
    empty.parts_, empty.appearances_ = model.parts_, model.appearances_[:, :0]
    with pytest.raises(InvalidInputError, match="0 appearances"):
        save_factors(empty, tmp_path / "empty.npz")
    empty.appearances_ = torch.full_like(model.appearances_, float("nan"))
    with pytest.raises(InvalidInputError, match=r"model.appearances_ holds 36 NaN/inf values"):
        save_factors(empty, tmp_path / "empty.npz")
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_planted_stale_temporary_is_removed_and_a_live_one_kept(model, tmp_path):
    target = tmp_path / "f.npz"
    stale = tmp_path / temporary_name(target, ".npz").replace(f"-{os.getpid()}.", f"-{_dead_pid()}.")
    live = tmp_path / temporary_name(target, ".npz").replace(f"-{os.getpid()}.", f"-{os.getppid()}.")
    other = tmp_path / ".g.npz.somehost-1.abcdef12.partial.npz"  # another target's: not ours to judge
    for path in (stale, live, other):
        path.write_bytes(b"x" * 1000)
    save_factors(model, target)
    assert not stale.exists() and live.exists() and other.exists()
    assert load_factors(target).n_parts_ == 3


def test_a_sigkilled_write_leaves_a_temporary_that_the_next_write_removes(model, tmp_path):
    target = tmp_path / "big.npz"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom panda_viz.fileio.atomic import atomic_path\n"
         f"with atomic_path({str(target)!r}) as tmp:\n"
         "    tmp.write_bytes(bytes(54 << 20))\n    print('writing', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = [p for p in tmp_path.iterdir() if p.name != "big.npz"]
    assert len(left) == 1 and left[0].name.startswith(".big.npz.") and ".partial" in left[0].name
    assert not target.exists()
    save_factors(model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]


def test_remove_stale_temporaries_ignores_lookalikes(tmp_path):
    target = tmp_path / "f.npz"
    keep = [tmp_path / ".f.npz.backup", tmp_path / "f.npz.1.partial.npz", tmp_path / ".f.npz.host-x.abcdef12.partial.npz"]
    for path in keep:
        path.write_bytes(b"")
    assert remove_stale_temporaries(target) == []
    assert all(p.exists() for p in keep)
