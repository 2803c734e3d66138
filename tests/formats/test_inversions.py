"""Saved inversions: round trip, bit-exact replay, and every kind of bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib import cbook

import panda_viz
from panda_viz.baselines import apply_direction
from panda_viz.exceptions import (
    FileLimitError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
)
from panda_viz.formats.inversions import load_inversion, save_inversion

PHOTO = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


@pytest.fixture(scope="module")
def inversion(dcgan):
    return panda_viz.invert(dcgan, [PHOTO, PHOTO], box=[(80, 30, 450, 400), None], n_starts=1, latent_steps=2,
                            feature_steps=2, tune_steps=2, progress=False)


@pytest.fixture
def saved(inversion, tmp_path):
    return save_inversion(inversion, tmp_path / "photo.npz")


def test_round_trip(dcgan, inversion, saved):
    loaded = load_inversion(saved, generator=dcgan)
    for name in ("latents", "features", "target", "reconstruction", "psnr"):
        assert torch.equal(getattr(loaded, name), getattr(inversion, name)), name
    assert loaded.tuned.keys() == inversion.tuned.keys()
    assert all(torch.equal(loaded.tuned[k], inversion.tuned[k]) for k in inversion.tuned)
    assert loaded.history == inversion.history and loaded.stage_seconds == inversion.stage_seconds
    assert loaded.stage_psnr.keys() == inversion.stage_psnr.keys()
    assert loaded.layer == "main.5" and loaded.generator_name == "dcgan-digiface"
    assert loaded.settings["layer"] == "main.5" and loaded.settings["box"][0] == [80, 30, 450, 400]
    assert torch.equal(dcgan.synthesize(loaded), inversion.reconstruction)  # replays bit for bit
    # the format id is in users' files: it never follows a module's name
    with np.load(saved, allow_pickle=False) as data:
        assert json.loads(str(data["metadata"][()]))["format"] == "panda_viz.inversion"


def test_a_moved_inversion_round_trips(dcgan, inversion, tmp_path):
    moved = apply_direction(inversion, torch.ones(100) / 10, 1.0)
    loaded = load_inversion(save_inversion(moved, tmp_path / "moved.npz"))
    assert torch.equal(loaded.anchor, inversion.latents)
    assert torch.equal(dcgan.synthesize(loaded), dcgan.synthesize(moved))


def test_the_file_is_plain_arrays(saved):
    with np.load(saved, allow_pickle=False) as data:
        names = set(data.files)
    assert {"latents", "features", "target", "reconstruction", "psnr", "metadata"} <= names
    assert any(n.startswith("tuned.main.") for n in names)


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    metadata = json.loads(str(arrays["metadata"][()]))
    for key, value in changes.items():
        if key.startswith("meta_"):
            metadata[key[5:]] = value
        elif value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    arrays["metadata"] = np.array(json.dumps(metadata))
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"latents": None}, r"arrays \['latents'\] are missing"),
        ({"extra": np.zeros(2)}, r"unexpected archive members \['extra.npy'\]"),
        ({"features": np.zeros((2, 256, 8, 7), np.float32)}, r"member 'features.npy': features have shape \(2, 256, 8, 7\); the metadata says \(2, 256, 8, 8\)"),
        ({"psnr": np.array([np.nan, 1.0], np.float32)}, "'psnr' must hold finite floats"),
        ({"latents": np.zeros((2, 100, 1, 1), np.int64)}, "member 'latents.npy' has dtype int64; expected floats"),
        ({"meta_format": "panda_viz.factors"}, "format 'panda_viz.factors', expected 'panda_viz.inversion'"),
        ({"meta_format_version": 99}, "format version 99 is newer"),
        ({"meta_n_images": 0}, "metadata n_images must be an int >= 1"),
        ({"meta_layer": None}, "layer None and feature_shape .* go together"),
        ({"meta_history": {"painting": [1.0]}}, "metadata history must be"),
        ({"stage_psnr.painting": np.zeros(2, np.float32)}, "unknown stage"),
    ],
)
def test_bad_files_are_refused(saved, changes, match):
    _rewrite(saved, **changes)
    with pytest.raises(InvalidFileError, match=match) as info:
        load_inversion(saved)
    assert info.value.path == saved


def test_not_an_inversion_file(tmp_path, saved):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InvalidFileError, match="cannot be read as an .npz"):
        load_inversion(junk)
    with pytest.raises(FileNotFoundError, match="no inversion file") as info:
        load_inversion(tmp_path / "missing.npz")
    assert isinstance(info.value, MissingFileError) and info.value.path == tmp_path / "missing.npz"
    np.savez(junk, latents=np.zeros(2))
    with pytest.raises(InvalidFileError, match="no metadata array"):
        load_inversion(junk)
    np.savez(junk, metadata=np.array("{nope"))
    with pytest.raises(InvalidFileError, match="metadata is not valid JSON"):
        load_inversion(junk)
    np.savez(junk, metadata=np.array(json.dumps({"format": "panda_viz.inversion"})))
    with pytest.raises(InvalidFileError, match="metadata lacks keys"):
        load_inversion(junk)
    np.savez(junk, latents=np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidFileError, match="cannot be read|no metadata"):
        load_inversion(junk)


def test_checked_against_the_generator(dcgan, saved):
    _rewrite(saved, meta_generator="stylegan2-ffhq")
    with pytest.raises(InvalidInputError, match="made with generator 'stylegan2-ffhq'; got generator 'dcgan-digiface'"):
        load_inversion(saved, generator=dcgan)


def test_save_refuses_what_is_not_an_inversion(inversion, tmp_path):
    with pytest.raises(InvalidTypeError, match="needs an Inversion"):
        save_inversion(inversion.latents, tmp_path / "x.npz")
    bare = panda_viz.Inversion(latents=inversion.latents)
    with pytest.raises(InvalidInputError, match="target, reconstruction and psnr"):
        save_inversion(bare, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_an_inflating_member_is_refused_before_it_is_read(tmp_path):
    """A deflated member that declares far more than it can be (256 MB of metadata in a
    few hundred kB: a zip bomb) is refused from its declared sizes; nothing is inflated."""
    import zipfile

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("metadata.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<U1", "fortran_order": False, "shape": (2**26,)})
            chunk = bytes(2**20)
            for _ in range(256):
                member.write(chunk)
    assert path.stat().st_size < 2**20
    with pytest.raises(FileLimitError, match=r"member 'metadata.npy' declares [\d,]+ bytes; the limit is"):
        load_inversion(path)
