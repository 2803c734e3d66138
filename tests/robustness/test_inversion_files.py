"""Saved inversions (.npz) crafted to blow memory or break the reader, and files of the format before crops were recorded.

Every bad file is made here, at test time, and read in a capped child process
(:func:`run_bounded`: 500 MB above the interpreter, 20 s) where it could allocate.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from panda_viz.exceptions import FileLimitError, InvalidFileError
from panda_viz.fileio import npz
from panda_viz.formats import inversions
from panda_viz.formats.inversions import load_inversion, save_inversion
from panda_viz.generators.inverted import Inversion

from .bounded import run_bounded
from .crafted_archives import bomb, members, npy, npy_header, write_zip

CHUNK = 16 << 20


def _inversion(n: int = 2) -> Inversion:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, 64, 64, generator=g) * 2 - 1
    return Inversion(latents=torch.randn(n, 100, 1, 1, generator=g), target=images, reconstruction=images.flip(-1),
                     psnr=torch.full((n,), 20.0), generator_name="dcgan-digiface",
                     crop_box=torch.tensor([[0.0, 44, 512, 556]] * n), crop_scale=torch.full((n, 2), 0.125))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return save_inversion(_inversion(), tmp_path_factory.mktemp("inversions") / "good.npz")


def _metadata(parts: dict[str, bytes]) -> dict:
    return json.loads(str(np.load(io.BytesIO(parts["metadata.npy"]))[()]))


@pytest.fixture(scope="module")
def bombs(good, tmp_path_factory):
    """The issue's bomb: latents inflating to 1.9 GiB, its metadata agreeing; and the same as an extra member."""
    folder = tmp_path_factory.mktemp("inversion-bombs")
    parts = members(good)
    n = 121 * CHUNK // (4 * 4096)  # latents (123904, 4096) float32: 1.89 GiB
    metadata = dict(_metadata(parts), n_images=n, latent_shape=[4096])
    agreeing = dict(parts, **{"metadata.npy": npy(np.array(json.dumps(metadata)))})
    latents = bomb(folder / "latents.npz", agreeing, "latents.npy", npy_header("<f4", (n, 4096)), 128 + 121 * CHUNK)
    extra = bomb(folder / "extra.npz", parts, "extra.npy", npy_header("<f4", (n, 4096)), 128 + 121 * CHUNK)
    return latents, extra


def test_the_bombs_are_small_files_that_inflate_to_1_9_gib(bombs):
    for path in bombs:
        assert path.stat().st_size < 2_500_000  # about 1000× smaller
        with zipfile.ZipFile(path) as zf:
            assert max(info.file_size for info in zf.infolist()) > 1.89 * 2**30


def test_a_latents_bomb_is_refused_before_inflation(bombs):
    outcome = run_bounded(f"import panda_viz\npanda_viz.load_inversion({str(bombs[0])!r})", memory_mb=500, timeout_s=20)
    assert outcome.error_type == "FileLimitError", outcome
    assert "member 'latents.npy' would inflate" in outcome.error_message and "zip bomb" in outcome.error_message
    assert str(bombs[0]) in outcome.error_message
    assert outcome.peak_rss_mb < 500 and outcome.seconds < 10


def test_an_extra_member_bomb_is_refused_unread(bombs):
    outcome = run_bounded(f"import panda_viz\npanda_viz.load_inversion({str(bombs[1])!r})", memory_mb=500, timeout_s=20)
    assert outcome.error_type == "InvalidFileError", outcome
    assert "unexpected archive members ['extra.npy']" in outcome.error_message
    assert outcome.peak_rss_mb < 500 and outcome.seconds < 10


def test_a_member_past_the_size_cap_is_refused(good, monkeypatch):
    monkeypatch.setattr(inversions, "MAX_ARRAY_BYTES", 1000)
    with pytest.raises(FileLimitError, match=r"member 'target.npy' declares \d[\d,]* bytes; the limit is 1,000"):
        load_inversion(good)


def test_a_header_disagreeing_with_the_metadata_is_refused_before_its_data(good, tmp_path):
    parts = members(good)
    parts["latents.npy"] = npy_header("<f4", (2, 100, 1, 1_000_000_000))  # 800 GB declared, no data
    with pytest.raises(InvalidFileError, match=r"latents have shape \(2, 100, 1, 1000000000\); the metadata says \(2, 100, 1, 1\)"):
        load_inversion(write_zip(tmp_path / "declared.npz", parts))


def test_a_central_directory_of_70000_members_is_refused_before_zipfile_lists_it(good, tmp_path):
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members(good).items():
            zf.writestr(name, data)
        for i in range(70_000):
            zf.writestr(f"x{i}.npy", b"")
    outcome = run_bounded(f"import panda_viz\npanda_viz.load_inversion({str(path)!r})", memory_mb=500, timeout_s=20)
    assert outcome.error_type == "FileLimitError", outcome
    assert f"central directory declares 70,00{len(members(good))} members" in outcome.error_message
    assert outcome.peak_rss_mb < 500


def test_a_central_directory_larger_than_its_cap_is_refused(good, monkeypatch):
    monkeypatch.setattr(npz, "MAX_DIRECTORY_BYTES", 100)
    with pytest.raises(FileLimitError, match=r"central directory declares \d+ members in [\d,]+ bytes; at most"):
        load_inversion(good)


# ------------------------------------------------------------------------------ the crops, old and new files
def test_crops_round_trip(good):
    loaded = load_inversion(good)
    assert torch.equal(loaded.crop_box, _inversion().crop_box) and torch.equal(loaded.crop_scale, _inversion().crop_scale)
    assert torch.equal(loaded[1].crop_box, loaded.crop_box[1:])


def test_a_file_written_before_crops_were_recorded_still_loads(good, tmp_path):
    parts = members(good)
    del parts["crop_box.npy"], parts["crop_scale.npy"]
    assert _metadata(parts)["format"] == "panda_viz.inversion" and _metadata(parts)["format_version"] == 1
    loaded = load_inversion(write_zip(tmp_path / "old.npz", parts))
    assert loaded.crop_box is None and loaded.crop_scale is None
    assert torch.equal(loaded.latents, _inversion().latents)


def test_one_crop_array_without_the_other_is_refused(good, tmp_path):
    parts = members(good)
    del parts["crop_scale.npy"]
    with pytest.raises(InvalidFileError, match="arrays crop_box and crop_scale go together"):
        load_inversion(write_zip(tmp_path / "half.npz", parts))


def test_a_crop_array_of_the_wrong_shape_is_refused(good, tmp_path):
    parts = members(good)
    parts["crop_box.npy"] = npy(np.zeros((2, 3), np.float32))
    with pytest.raises(InvalidFileError, match=r"crop_box have shape \(2, 3\); the metadata says \(2, 4\)"):
        load_inversion(write_zip(tmp_path / "shape.npz", parts))
