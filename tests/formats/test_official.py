"""Official PandA factor files (Us-/Uc-…npy) read into fitted models bound to a genforce layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from testdata import data_folder

import panda_viz
from panda_viz.editing.edits import edit_images, local_edit
from panda_viz.exceptions import IncompatibleFactorsError, InvalidFileError
from panda_viz.formats.official import (
    load_official_factors,
    official_file_names,
    parse_official_name,
)

MODEL = "stylegan2_tiny32"


@pytest.fixture(scope="module")
def G():
    return panda_viz.load_generator(data_folder("genforce-stylegan2") / "checkpoint.pth", name=MODEL)


def write_pair(folder: Path, layer: int, S: int, C: int, n_parts: int, n_app: int, seed: int = 0, model: str = MODEL):
    """Official-format files as the authors' Model.save writes them: Us (S, R_S) >= 0, Uc (C, R_C)."""
    rng = np.random.default_rng(seed)
    us_name, uc_name = official_file_names(model, layer, n_parts, n_app)
    Us = rng.uniform(0, 0.01, size=(S, n_parts)).astype(np.float32)
    Uc = np.linalg.qr(rng.standard_normal((C, C)))[0][:, :n_app].astype(np.float32)
    np.save(folder / us_name, Us)
    np.save(folder / uc_name, Uc)
    return folder / us_name, folder / uc_name, Us, Uc


def official_direction(Us, Uc, part, appearance, lam, s):
    """The official Model.edit_at_layer's feature edit, written out (torch, as there)."""
    Us, Uc = torch.from_numpy(Us), torch.from_numpy(Uc)
    a = Uc[:, appearance]
    p = torch.sum(Us[:, [part]], dim=-1).reshape([s, s])
    p = 0.0 + ((p - torch.min(p)) / (torch.max(p) - torch.min(p))) * (1.0 - 0.0)  # utils.mapRange
    return lam * torch.einsum("c,hw->chw", a, p)  # tl.tenalg.outer([a, p])


def test_file_names_round_trip():
    us, uc = official_file_names("stylegan2_ffhq1024", 5, 8, 512)
    assert us == "Us-name_stylegan2_ffhq1024-layer_5-rank_8.npy"
    info = parse_official_name(uc)
    assert (info.kind, info.model, info.layer, info.n_factors) == ("Uc", "stylegan2_ffhq1024", 5, 512)
    with pytest.raises(InvalidFileError, match="official factor files are named"):
        parse_official_name("parts-layer5.npy")


def test_pair_binds_to_the_official_layer(tmp_path, G):
    # official StyleGAN2 layer 5 is the output of synthesis.layer4: 64×16×16 on this 32-px model
    us_path, uc_path, Us, Uc = write_pair(tmp_path, 5, 16 * 16, 64, 4, 64)
    model = load_official_factors(us_path, uc_path, G)
    assert isinstance(model, panda_viz.PandA)
    assert model.layer_ == "synthesis.layer4" and model.generator_ == MODEL
    assert model.feature_shape_ == (64, 16, 16) == G.layers["synthesis.layer4"]
    assert model.parts_.shape == (4, 16, 16) and model.appearances_.shape == (64, 64)
    np.testing.assert_array_equal(model.parts_[2].numpy(), Us[:, 2].reshape(16, 16))  # row-major, as the official code
    np.testing.assert_array_equal(model.appearances_.numpy(), Uc)
    assert model.official_["model"] == MODEL and model.official_["layer"] == 5
    Z = G.features(G.sample_latents(2, seed=0), model.layer_)
    assert model.transform(Z).shape == (2, 64, 4)  # the estimator's methods work on it


def test_local_edit_applies_an_official_edit_as_the_official_code(tmp_path, G):
    us_path, uc_path, Us, Uc = write_pair(tmp_path, 5, 16 * 16, 64, 4, 64, seed=1)
    model = load_official_factors(us_path, uc_path, G)
    part, appearance, lam = 2, 7, 30.0
    expected = official_direction(Us, Uc, part, appearance, lam, 16)
    ours = local_edit(model, [(part, appearance, lam)])
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-6)
    # and the image: the rest of the generator run from Z + direction
    z = G.sample_latents(2, seed=3)
    Z = G.features(z, "synthesis.layer4")
    official_image = G.synthesize_from("synthesis.layer4", Z + expected, z)
    torch.testing.assert_close(edit_images(G, z, model, [(part, appearance, lam)]), official_image, atol=1e-5, rtol=0)
    assert not torch.allclose(official_image, G.synthesize(z), atol=1e-3)  # the edit does change the image


def test_explicit_layer_name_or_number(tmp_path, G, dcgan):
    us_path, uc_path, _, _ = write_pair(tmp_path, 5, 32 * 32, 32, 4, 16)
    assert load_official_factors(us_path, uc_path, G, layer="synthesis.layer5").layer_ == "synthesis.layer5"
    assert load_official_factors(us_path, uc_path, G, layer=7).layer_ == "synthesis.layer6"
    # a non-genforce generator needs the module name
    with pytest.raises(ValueError, match="is not a genforce .* pass layer='<module name>'"):
        load_official_factors(us_path, uc_path, dcgan)
    us_path, uc_path, _, _ = write_pair(tmp_path, 1, 8 * 8, 256, 4, 256, model="dcgan-digiface")
    assert load_official_factors(us_path, uc_path, dcgan, layer="main.5").feature_shape_ == (256, 8, 8)


def test_pair_for_another_layer_is_refused_naming_both(tmp_path, G):
    # shapes of layer 5 (16×16), but named layer 6 (synthesis.layer5: 32×32×32)
    us_path, uc_path, _, _ = write_pair(tmp_path, 6, 16 * 16, 64, 4, 64)
    with pytest.raises(IncompatibleFactorsError, match=r"Us-name_stylegan2_tiny32-layer_6-rank_4.npy' \(parts 256×4\).*"
                       r"Uc-name_stylegan2_tiny32-layer_6-rank_64.npy' \(appearances 64×64\).*"
                       r"layer 'synthesis.layer5'.*32×32×32"):
        load_official_factors(us_path, uc_path, G)


def test_rank_in_the_name_must_match_the_matrix(tmp_path, G):
    us_path, uc_path, Us, _ = write_pair(tmp_path, 5, 16 * 16, 64, 4, 64)
    wrong = tmp_path / "Us-name_stylegan2_tiny32-layer_5-rank_8.npy"
    np.save(wrong, Us)
    with pytest.raises(InvalidFileError, match=r"says rank 8 but holds a 256×4 matrix"):
        load_official_factors(wrong, uc_path, G)


def test_mismatched_or_swapped_files(tmp_path, G):
    us5, uc5, _, _ = write_pair(tmp_path, 5, 16 * 16, 64, 4, 64)
    _, uc6, _, _ = write_pair(tmp_path, 6, 32 * 32, 32, 4, 32)
    with pytest.raises(IncompatibleFactorsError, match="different decompositions.*layer 5.*layer 6"):
        load_official_factors(us5, uc6, G)
    with pytest.raises(ValueError, match="parts_path must be the 'Us-…' \\(parts\\) file"):
        load_official_factors(uc5, us5, G)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_official_factors(tmp_path / "Us-name_x-layer_5-rank_4.npy", tmp_path / "Uc-name_x-layer_5-rank_64.npy", G)


def test_negative_parts_refused(tmp_path, G):
    us_path, uc_path, Us, _ = write_pair(tmp_path, 5, 16 * 16, 64, 4, 64)
    Us[0, 0] = -1.0
    np.save(us_path, Us)
    with pytest.raises(ValueError, match="negative entries"):
        load_official_factors(us_path, uc_path, G)
