"""Saved factors: round trip, no code run on load, validation of bad files, atomic writes."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz import PandA, load_factors, save_factors
from panda_viz.exceptions import MissingFileError


@pytest.fixture(scope="module")
def fitted():
    g = torch.Generator().manual_seed(0)
    Z = torch.relu(torch.randn(20, 6, 3, 4, generator=g))
    return PandA(3, random_state=0).fit(Z, layer="main.5", generator_name="dcgan-digiface"), Z


def test_round_trip(fitted, tmp_path):
    model, Z = fitted
    path = save_factors(model, tmp_path / "f.npz")
    loaded = load_factors(path)
    assert torch.equal(loaded.parts_, model.parts_) and torch.equal(loaded.appearances_, model.appearances_)
    assert loaded.layer_ == "main.5" and loaded.generator_ == "dcgan-digiface"
    assert loaded.objective_ == model.objective_ and loaded.n_samples_ == 20 and loaded.feature_shape_ == (6, 3, 4)
    assert loaded.loss_history_ == model.loss_history_ and loaded.solver_ == "projective"
    assert loaded.metadata_["package_version"] == panda_viz.__version__
    # the format id is in users' files: it never follows a module's name
    assert loaded.metadata_["format"] == "panda_viz.factors" and loaded.metadata_["format_version"] == 1
    torch.testing.assert_close(loaded.transform(Z), model.transform(Z))
    # the file is a plain npz: readable without pickle
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"parts", "appearances", "loss_history", "metadata"}


def test_other_suffix_and_atomic_write(fitted, tmp_path):
    model, _ = fitted
    path = save_factors(model, tmp_path / "sub" / "f.factors")
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["f.factors"]
    with pytest.raises(ValueError, match="fitted PandA"):
        save_factors(PandA(), tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists() and list(tmp_path.glob(".bad*")) == []


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["metadata"][()]))
    for key, value in changes.items():
        if key in arrays and key != "metadata":
            arrays[key] = value
        elif value is None:
            meta.pop(key)
        else:
            meta[key] = value
    arrays["metadata"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_refuses_corrupt_and_foreign_files(fitted, tmp_path):
    model, _ = fitted
    with pytest.raises(FileNotFoundError, match="no factor file") as info:
        load_factors(tmp_path / "none.npz")
    assert isinstance(info.value, MissingFileError) and info.value.path == tmp_path / "none.npz"
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="cannot be read as an .npz"):
        load_factors(junk)
    good = save_factors(model, tmp_path / "good.npz")
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a valid panda_viz factor file"):
        load_factors(trunc)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, parts=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="not a valid panda_viz factor file"):
        load_factors(pickled)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"layer": None}, r"metadata lacks keys \['layer'\]"),
        ({"format": "other"}, "format 'other'"),
        ({"parts": -np.ones((3, 3, 4), np.float32)}, "non-negative"),
        ({"parts": np.full((3, 3, 4), np.nan, np.float32)}, "finite"),
        ({"parts": np.ones((2, 3, 4), np.float32)}, r"parts have shape \(2, 3, 4\); the metadata says \(3, 3, 4\)"),
        ({"appearances": np.ones((5, 6), np.float32)}, r"appearances have shape \(5, 6\)"),
        ({"format_version": "1"}, r"metadata format_version must be an int >= 1; got '1'"),
        ({"objective": "x"}, r"metadata objective must be a number; got 'x'"),
        ({"n_iter": -1}, r"metadata n_iter must be an int >= 0; got -1"),
        ({"feature_shape": [5, 3]}, r"metadata feature_shape must be a list of 3 positive ints \(C, H, W\); got \[5, 3\]"),
        ({"solver": "sgd"}, r"metadata solver must be null or one of \['projective', 'pgd', 'adam'\]; got 'sgd'"),
        ({"appearance_basis": 3}, r"metadata appearance_basis must be null or one of"),
        ({"layer": 5}, r"metadata layer must be null or a string; got 5"),
    ],
)
def test_refuses_inconsistent_files(fitted, tmp_path, change, match):
    model, _ = fitted
    path = save_factors(model, tmp_path / "f.npz")
    _rewrite(path, **change)
    with pytest.raises(ValueError, match=match):
        load_factors(path)


def test_missing_array(fitted, tmp_path):
    model, _ = fitted
    path = save_factors(model, tmp_path / "f.npz")
    with zipfile.ZipFile(path) as zf:
        keep = {n: zf.read(n) for n in zf.namelist() if n != "parts.npy"}
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in keep.items():
            zf.writestr(n, b)
    with pytest.raises(ValueError, match=r"missing arrays \['parts'\]"):
        load_factors(path)


def test_other_layer_refused(fitted, tmp_path):
    model, Z = fitted
    path = save_factors(model, tmp_path / "f.npz")
    assert load_factors(path, layer="main.5").layer_ == "main.5"
    with pytest.raises(ValueError, match="fitted at layer 'main.5', not 'main.8'"):
        load_factors(path, layer="main.8")
    with pytest.raises(ValueError, match=r"expected \(the feature shape the model was fitted on\); got \(2, 7, 3, 4\)"):
        load_factors(path).transform(torch.zeros(2, 7, 3, 4))
