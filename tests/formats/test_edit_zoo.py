"""Named edits as data: the shipped zoos, user zoos saved next to their factors, and applying them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from testdata import data_folder

import panda_viz
from panda_viz.formats.edit_zoo import (
    EditZoo,
    apply_named_edit,
    load_edit_zoo,
)
from panda_viz.formats.named_edit import NamedEdit
from panda_viz.formats.official import load_official_factors, official_file_names
from panda_viz.formats.zoo_file import FORMAT, available_edit_zoos

# the paper's FFHQ StyleGAN2 list, as in the official annotated_directions.py
PAPER = {
    "big_eyes": (5, 8, 7, 6, 30), "long_nose": (5, 8, 5, 82, 30), "smile": (5, 8, 4, 46, -30),
    "open_mouth": (5, 8, 4, 39, 30),
    "big_eyeballs": (6, 16, 8, 27, 100), "wide_nose": (6, 16, 15, 13, 100), "glance_left": (6, 16, 8, 281, 50),
    "glance_right": (6, 16, 8, 281, -70), "bald_forehead": (6, 16, 3, 25, 100),
    "light_eyebrows": (7, 16, 8, 4, 30), "dark_eyebrows": (7, 16, 8, 9, 30), "no_eyebrows": (7, 16, 8, 4, 50),
    "dark_eyes": (7, 16, 11, 176, 50), "red_eyes": (7, 16, 11, 109, 60), "eyes_short": (7, 16, 11, 262, 70),
    "eyes_open": (7, 16, 11, 28, 50), "eyes_close": (7, 16, 11, 398, 80), "no_eyes": (7, 16, 11, 0, -200),
}


def test_shipped_ffhq_list_is_the_papers():
    assert {"stylegan2_ffhq1024", "dcgan-digiface"} <= set(available_edit_zoos())
    zoo = load_edit_zoo("stylegan2_ffhq1024")
    assert list(zoo) == list(PAPER)
    for name, (layer, n_parts, part, appearance, alpha) in PAPER.items():
        edit = zoo[name]
        assert (edit.layer, edit.n_parts, edit.part, edit.appearance, edit.alpha) == (layer, n_parts, part, appearance, alpha)
        assert edit.factors == official_file_names("stylegan2_ffhq1024", layer, n_parts, 512)


def test_official_files_not_shipped_says_where_to_put_them(tmp_path):
    zoo = load_edit_zoo("stylegan2_ffhq1024")
    with pytest.raises(FileNotFoundError, match="Us-name_stylegan2_ffhq1024-layer_5-rank_8.npy.*pass root="):
        zoo.factor_paths("big_eyes", root=tmp_path)


def test_unknown_edit_or_zoo_names():
    zoo = load_edit_zoo("stylegan2_ffhq1024")
    with pytest.raises(KeyError, match=r"unknown edit 'big_eye' in zoo 'stylegan2_ffhq1024' \(did you mean 'big_eyes'\?\)"):
        zoo["big_eye"]
    with pytest.raises(ValueError, match="unknown edit zoo 'ffhq'; expected one of: .*'stylegan2_ffhq1024'"):
        load_edit_zoo("ffhq")


def test_user_zoo_applies_an_official_edit_as_the_official_code(tmp_path):
    """A zoo entry in the official counting, on official-format files made here, edits the
    features exactly as the official Model.edit_at_layer: Z + α a_j mapRange(p_k)."""
    G = panda_viz.load_generator(data_folder("genforce-stylegan2") / "checkpoint.pth", name="tiny")
    rng = np.random.default_rng(0)
    us_name, uc_name = official_file_names("tiny", 5, 4, 64)  # layer 5 = synthesis.layer4, 64×16×16
    Us = rng.uniform(0, 0.01, size=(256, 4)).astype(np.float32)
    Uc = np.linalg.qr(rng.standard_normal((64, 64)))[0].astype(np.float32)
    np.save(tmp_path / us_name, Us)
    np.save(tmp_path / uc_name, Uc)
    zoo = EditZoo("tiny-edits", generator_name="tiny")
    zoo.add("blob", layer=5, n_parts=4, part=3, appearance=9, alpha=-20, factors=[us_name, uc_name])
    zoo.save(tmp_path / "tiny-edits.json")

    loaded = load_edit_zoo(tmp_path / "tiny-edits.json")
    z = G.sample_latents(2, seed=5)
    images = loaded.apply(G, z, "blob")

    p = torch.from_numpy(Us[:, 3]).reshape(16, 16)
    p = (p - p.min()) / (p.max() - p.min())
    direction = -20 * torch.from_numpy(Uc[:, 9])[:, None, None] * p
    Z = G.features(z, "synthesis.layer4")
    torch.testing.assert_close(images, G.synthesize_from("synthesis.layer4", Z + direction, z), atol=1e-5, rtol=0)
    # apply_named_edit with an explicit model, and a slider-style alpha override
    model = load_official_factors(tmp_path / us_name, tmp_path / uc_name, G)
    torch.testing.assert_close(apply_named_edit(G, z, model, "blob", zoo=loaded), images, atol=0, rtol=0)
    assert torch.equal(apply_named_edit(G, z, model, "blob", zoo=loaded, alpha=0.0), G.synthesize(z))
    # factors for another layer are refused
    us6, uc6 = official_file_names("tiny", 6, 4, 32)
    np.save(tmp_path / us6, Us.repeat(4, axis=0))
    np.save(tmp_path / uc6, Uc[:32, :32])
    other = load_official_factors(tmp_path / us6, tmp_path / uc6, G)
    with pytest.raises(ValueError, match=r"indexes factors at layer 5 \(synthesis.layer4\) with 4 parts; .*'synthesis.layer5'"):
        apply_named_edit(G, z, other, "blob", zoo=loaded)


def test_dcgan_zoo_entry_applied_to_the_embedded_generator(dcgan, dcgan_latents):
    zoo = load_edit_zoo("dcgan-digiface")
    assert {"plain_background", "dark_moustache", "lighter_hair"} <= set(zoo)
    model = zoo.load_model("dark_moustache", dcgan)
    assert model.layer_ == "main.5" and model.n_parts_ == 12
    z = dcgan_latents[:2]
    edited = apply_named_edit(dcgan, z, model, "dark_moustache")  # zoo found from G.name
    base = dcgan.synthesize(z)
    change = (edited - base).abs().mean(dim=(0, 1))  # (64, 64)
    mouth, top = change[36:52, 16:48].mean(), change[:16].mean()
    assert mouth > 5 * top  # the mouth part changes, the top of the image barely
    torch.testing.assert_close(zoo.apply(dcgan, z, "dark_moustache"), edited, atol=0, rtol=0)


def test_save_is_atomic_json_and_round_trips(tmp_path):
    zoo = EditZoo("mine", generator_name="dcgan-digiface", description="my edits")
    zoo.add("a", layer="main.5", n_parts=12, part=(0, 3), appearance=2, alpha=1.5, factors="f.npz")
    with pytest.warns(UserWarning, match="names factor files not beside it: f.npz"):
        path = zoo.save(tmp_path / "mine.json")
    assert [p.name for p in tmp_path.iterdir()] == ["mine.json"]  # no temporary file left
    data = json.loads(path.read_text())
    assert data["edits"]["a"] == {"layer": "main.5", "n_parts": 12, "part": [0, 3], "appearance": 2, "alpha": 1.5, "factors": "f.npz"}
    back = load_edit_zoo(path)
    assert back["a"] == zoo["a"] and back.root == tmp_path and back.description == "my edits"
    with pytest.raises(ValueError, match="already has an edit 'a'"):
        back.add("a", layer="main.5", n_parts=12, part=0, appearance=0, alpha=1, factors="f.npz")


def test_an_edit_of_several_terms_is_one_entry_saved_with_its_factors(dcgan, dcgan_latents, tmp_path):
    model = load_edit_zoo("dcgan-digiface").load_model("dark_moustache", dcgan)
    zoo = EditZoo("mine", generator_name=dcgan.name)
    assert zoo.add_terms("one", layer="main.5", n_parts=12, terms=[(3, 2, 1.5)], factors="f.npz").term == (3, 2, 1.5)
    both = zoo.add_terms("both", layer="main.5", n_parts=12, terms=[(3, 2, 1.5), ([0, 1], 4, -2)], factors="f.npz",
                         description="kept on seed 3")
    assert both.terms == ((3, 2, 1.5), ((0, 1), 4, -2.0)) and both.description == "kept on seed 3"
    assert (both.part, both.appearance, both.alpha) == (None, None, None)
    with pytest.raises(RuntimeError, match="edit 'both' has 2 terms, applied together: use .terms"):
        _ = both.term
    with pytest.raises(ValueError, match="already has an edit 'both'"):
        zoo.add_terms("both", layer="main.5", n_parts=12, terms=[(0, 0, 1.0)], factors="f.npz")
    with pytest.raises(ValueError, match="edit 'bad', term 1: part must be an int or ints in 0 … 11"):
        zoo.add_terms("bad", layer="main.5", n_parts=12, terms=[(0, 0, 1.0), (12, 0, 1.0)], factors="f.npz")
    with pytest.raises(ValueError, match="has no terms"):
        zoo.add_terms("empty", layer="main.5", n_parts=12, terms=[], factors="f.npz")
    with pytest.raises(ValueError, match="either part, appearance and alpha .* or terms"):
        NamedEdit("mixed", "main.5", 12, 0, 0, 1.0, "f.npz", terms=[(0, 0, 1.0)])
    assert list(zoo) == ["one", "both"]  # nothing of a refused edit was added
    with pytest.raises(ValueError, match="an edit zoo is saved as .json"):
        zoo.save(tmp_path / "mine.txt", factors={"f.npz": model})
    assert list(tmp_path.iterdir()) == []  # a bad path writes no factors either
    path = zoo.save(tmp_path / "mine.json", factors={"f.npz": model})  # no warning: the factors are beside it
    data = json.loads(path.read_text())
    assert data["version"] == 2 and data["edits"]["both"]["terms"][1] == {"part": [0, 1], "appearance": 4, "alpha": -2.0}
    assert {"part", "appearance", "alpha"} <= set(data["edits"]["one"])  # one term: as version 1 wrote it
    back = load_edit_zoo(path)
    assert back["both"] == both
    z = dcgan_latents[:2]
    torch.testing.assert_close(
        back.apply(dcgan, z, "one"), panda_viz.edit_images(dcgan, z, model, [(3, 2, 1.5)]), atol=0, rtol=0
    )
    torch.testing.assert_close(back.apply(dcgan, z, "both"),
                               panda_viz.edit_images(dcgan, z, model, [(3, 2, 1.5), ((0, 1), 4, -2.0)]), atol=0, rtol=0)
    with pytest.raises(ValueError, match="edit 'both' has 2 terms, each with its own α; alpha= overrides"):
        back.apply(dcgan, z, "both", alpha=3.0)


def test_a_zoo_of_one_term_edits_is_written_as_version_1(tmp_path):
    zoo = EditZoo("old")
    zoo.add("a", layer="main.5", n_parts=12, part=0, appearance=0, alpha=1.0, factors="f.npz")
    with pytest.warns(UserWarning, match="not beside it"):
        path = zoo.save(tmp_path / "old.json")
    assert json.loads(path.read_text())["version"] == 1  # earlier releases read it


def _v1_group(description="kept on seed 3"):
    """What an earlier release's add_terms wrote for a two-term edit 'smile'."""
    base = {"layer": "main.5", "n_parts": 12, "factors": "f.npz"}
    return {
        "smile.0": {**base, "part": 3, "appearance": 2, "alpha": 1.5,
                    "description": f"{description}; term 0 of 'smile', apply its terms together"},
        "smile.1": {**base, "part": [0, 1], "appearance": 4, "alpha": -2.0,
                    "description": f"{description}; term 1 of 'smile', apply its terms together"},
    }


def _write(path, edits, version=1):
    path.write_text(json.dumps({"format": "panda_viz.edit_zoo", "version": version, "name": "z", "edits": edits}))
    return path


def test_an_earlier_releases_term_entries_read_back_as_one_edit(tmp_path):
    plain = {"layer": "main.5", "n_parts": 12, "part": 1, "appearance": 1, "alpha": 1.0, "factors": "f.npz"}
    zoo = load_edit_zoo(_write(tmp_path / "v1.json", {"first": plain, **_v1_group(), "v.0": plain, "v.1": plain}))
    assert list(zoo) == ["first", "smile", "v.0", "v.1"]  # entries without the mark stay as they are
    assert zoo["smile"].terms == ((3, 2, 1.5), ((0, 1), 4, -2.0)) and zoo["smile"].description == "kept on seed 3"
    group = _v1_group()
    partial = load_edit_zoo(_write(tmp_path / "partial.json", {"smile.1": group["smile.1"], "smile.0": group["smile.0"]}))
    assert list(partial) == ["smile.1", "smile.0"]  # out of order: not what add_terms wrote, kept apart
    other = dict(group, **{"smile.1": {**group["smile.1"], "n_parts": 16}})
    assert list(load_edit_zoo(_write(tmp_path / "other.json", other))) == ["smile.0", "smile.1"]
    taken = load_edit_zoo(_write(tmp_path / "taken.json", {"smile": plain, **group}))
    assert list(taken) == ["smile", "smile.0", "smile.1"]  # the name is taken: nothing merged
    assert zoo.to_dict()["version"] == 2  # saved again, it is one entry of several terms


@pytest.mark.parametrize(
    ("version", "edit", "match"),
    [
        (3, None, r"edit zoo version 3 is not supported \(this panda_viz reads versions 1 and 2"),
        (True, None, "edit zoo version True is not supported"),
        ("2", None, "edit zoo version '2' is not supported"),
        (1, {"terms": [{"part": 0, "appearance": 0, "alpha": 1.0}]}, r"unknown keys \['terms'\] \(several terms need version 2\)"),
        (2, {"terms": []}, '"terms" must be a non-empty list of terms; got list of 0 items'),
        (2, {"terms": [[0, 0, 1.0]]}, r"term 0 must be an object with keys \['alpha', 'appearance', 'part'\]; got list of 3 items"),
        (2, {"terms": [{"part": 0, "appearance": 0}]}, r"term 0 must be an object .*; got \['appearance', 'part'\]"),
        (2, {"terms": [{"part": 0, "appearance": 0, "alpha": 1.0}, {"part": 12, "appearance": 0, "alpha": 1.0}]},
         "edit 'e', term 1: part must be an int or ints in 0 … 11; got 12"),
        (2, {"terms": [{"part": 0, "appearance": 0, "alpha": 1.0}], "part": 0}, r"unknown keys \['part'\]"),
    ],
)
def test_bad_versions_and_terms_are_refused_naming_the_edit(tmp_path, version, edit, match):
    entry = {"layer": "main.5", "n_parts": 12, "factors": "f.npz"}
    entry |= edit if edit is not None else {"part": 0, "appearance": 0, "alpha": 1.0}
    with pytest.raises(ValueError, match=match):
        load_edit_zoo(_write(tmp_path / "z.json", {"e": entry}, version))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(part=12), r"part must be an int or ints in 0 … 11"),
        (dict(layer=0), "layer must be a module name or an official layer number"),
        (dict(alpha=float("nan")), "alpha must be a finite number"),
        (dict(factors=["a", "b", "c"]), "factors must be one .npz file or the official"),
        (dict(appearance=-1), "appearance must be an int >= 0"),
    ],
)
def test_bad_edits(kwargs, match):
    args = dict(layer="main.5", n_parts=12, part=0, appearance=0, alpha=1.0, factors="f.npz") | kwargs
    with pytest.raises(ValueError, match=match):
        NamedEdit("e", **args)


def test_bad_zoo_files(tmp_path):
    (tmp_path / "x.json").write_text('{"edits": {}}')
    with pytest.raises(ValueError, match="is not an edit zoo"):
        load_edit_zoo(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"format": "panda_viz.edit_zoo", "version": 1, "edits": {"e": {"layer": 3}}}))
    with pytest.raises(ValueError, match=r"edit 'e' is missing \['alpha', 'appearance', 'factors', 'n_parts', 'part'\]"):
        load_edit_zoo(tmp_path / "y.json")


def test_the_format_id_in_files_is_unchanged(tmp_path):
    """Users' zoo files carry "panda_viz.edit_zoo": the id stays whatever module writes it."""
    assert FORMAT == "panda_viz.edit_zoo"
    for name in available_edit_zoos():
        shipped = Path(panda_viz.__file__).parent / "data" / "edit_zoo" / f"{name}.json"
        assert json.loads(shipped.read_text(encoding="utf-8"))["format"] == FORMAT
    saved = EditZoo("z").save(tmp_path / "z.json")
    assert json.loads(saved.read_text())["format"] == "panda_viz.edit_zoo"


def test_apply_and_add_check_their_arguments(dcgan):
    zoo = load_edit_zoo("dcgan-digiface")
    model = zoo.load_model("dark_moustache", dcgan)
    z = dcgan.sample_latents(1, seed=0)
    with pytest.raises(TypeError, match="apply_named_edit: alpha must be a real number or None; got str 'strong'"):
        apply_named_edit(dcgan, z, model, "dark_moustache", zoo=zoo, alpha="strong")
    with pytest.raises(ValueError, match="apply_named_edit: alpha must be a finite number; got nan"):
        zoo.apply(dcgan, z, "dark_moustache", model=model, alpha=float("nan"))
    with pytest.raises(TypeError, match="overwrite must be True or False; got str 'yes'"):
        zoo.add("dark_moustache", layer="main.5", n_parts=12, part=0, appearance=0, alpha=1.0, factors="f.npz",
                overwrite="yes")
