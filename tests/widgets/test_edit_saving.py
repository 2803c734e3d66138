"""EditPanel saves its kept edits as an edit zoo (the versioned format), with the factors beside it,
and the zoo says which of its edits fit a model (EditZoo.edits_for)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from panda_viz.editing import edits as editing
from panda_viz.formats.edit_zoo import EditZoo, load_edit_zoo
from panda_viz.imaging import render
from panda_viz.widgets import EditPanel

SEED = 5


@pytest.fixture()
def panel(dcgan, model):
    return EditPanel(dcgan, model, seed=SEED, n_rank_candidates=4)


def _first(images):
    return render.to_uint8(images)[0]


def test_a_saved_edit_is_a_zoo_entry_that_reproduces_the_panels_image(panel, dcgan, tmp_path):
    panel.set_part(0, 2)
    panel.set_alpha(0, 2.5)
    shown = panel.edited.array.copy()
    panel.keep_name.value = "brighter_part2"
    panel.keep()
    path = panel.save(tmp_path / "mine.json")

    data = json.loads(path.read_text())
    assert (data["format"], data["version"], data["generator"]) == ("panda_viz.edit_zoo", 1, "dcgan-digiface")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine-factors.npz", "mine.json"]  # nothing else left
    zoo = load_edit_zoo(path)
    edit = zoo["brighter_part2"]
    assert (edit.layer, edit.n_parts, edit.factors) == ("main.5", 4, ("mine-factors.npz",))
    assert edit.term == (2, panel.rows[0].appearance.value, 2.5) and f"seed {SEED}" in edit.description
    z = dcgan.sample_latents(1, seed=SEED)
    assert np.array_equal(_first(zoo.apply(dcgan, z, "brighter_part2")), shown)  # factors loaded from disk
    assert panel.log_area.messages[-1] == ("ok", f"saved 1 edit(s) to {path} (an edit zoo; factors beside it)")
    assert panel.keep_name.value == ""


def test_a_several_term_edit_is_one_entry_applied_whole(panel, dcgan, tmp_path):
    panel.set_alpha(0, -2.0)
    panel.add_term(part=3, alpha=3.0)
    shown = panel.edited.array.copy()
    panel.keep()
    panel.set_alpha(1, 0.0)
    panel.keep("second")
    path = panel.save(tmp_path / "zoo.json")
    assert json.loads(path.read_text())["version"] == 2  # several terms: the version that holds them
    zoo = load_edit_zoo(path)
    assert list(zoo) == ["edit1", "second"]
    assert [t[2] for t in zoo["edit1"].terms] == [-2.0, 3.0] and zoo["edit1"].terms[1][0] == 3
    z = dcgan.sample_latents(1, seed=SEED)
    assert np.array_equal(_first(zoo.apply(dcgan, z, "edit1")), shown)  # every term, from the file alone
    factors = zoo.load_model("edit1", dcgan)
    images = editing.edit_images(dcgan, z, factors, list(zoo["edit1"].terms), layer="main.5")
    assert np.array_equal(render.to_uint8(images)[0], shown)
    with pytest.raises(ValueError, match="already in the list"):
        panel.keep("edit1")
    other = EditPanel(dcgan, panel.model, seed=SEED, n_rank_candidates=4, zoo=zoo)
    other.apply_named_edit("edit1")  # the named-edit menu brings back every term
    assert [(t.part, t.appearance, t.alpha) for t in other.terms] == list(zoo["edit1"].terms)
    assert np.array_equal(other.edited.array, shown)


def test_without_kept_edits_the_current_one_is_saved(panel, tmp_path):
    panel.set_alpha(0, 1.5)
    zoo = load_edit_zoo(panel.save(tmp_path / "one.json"))
    assert list(zoo) == ["edit"] and zoo["edit"].alpha == 1.5


def test_edits_kept_with_another_model_get_their_own_factor_file(panel, dcgan, model, model_main8, tmp_path):
    panel.set_alpha(0, 2.0)
    panel.keep("at_main5")
    panel.set_model(model_main8)  # e.g. a new fit in the Explorer: the kept edit still indexes the old factors
    panel.set_alpha(0, 1.0)
    shown = panel.edited.array.copy()
    panel.keep("at_main8")
    zoo = load_edit_zoo(panel.save(tmp_path / "two.json"))
    assert zoo["at_main5"].factors == ("two-factors.npz",) and zoo["at_main5"].layer == "main.5"
    assert zoo["at_main8"].factors == ("two-factors-2.npz",) and zoo["at_main8"].layer == "main.8"
    z = dcgan.sample_latents(1, seed=SEED)
    assert np.array_equal(_first(zoo.apply(dcgan, z, "at_main8")), shown)
    assert zoo.edits_for(model, dcgan) == ["at_main5"] and zoo.edits_for(model_main8, dcgan) == ["at_main8"]


def test_edits_for_lists_the_edits_made_with_a_models_factors(panel, dcgan, model, model_main8, tmp_path):
    panel.keep("a")
    panel.keep("b")
    path = panel.save(tmp_path / "z.json")
    zoo = load_edit_zoo(path)
    assert zoo.edits_for(model, dcgan) == ["a", "b"]                              # equal factors count
    assert zoo.edits_for(zoo.load_model("a", dcgan), dcgan) == ["a", "b"]        # and the very same object
    assert zoo.edits_for(model_main8, dcgan) == []                              # other factors
    offered = EditPanel(dcgan, model, zoo=zoo, n_rank_candidates=4).named.options
    assert [v for _, v in offered] == ["", "a", "b"]                           # the panel asks the zoo
    (tmp_path / "z-factors.npz").unlink()
    assert load_edit_zoo(path).edits_for(model, dcgan) == []                  # factors gone: not applicable
    assert EditZoo("empty").edits_for(model, dcgan) == []


def test_what_cannot_be_an_edit_zoo_entry_is_refused_before_anything_is_written(panel, tmp_path):
    with pytest.raises(ValueError, match=r"an edit zoo is saved as \.json; got '.*edits\.txt'"):
        panel.save(tmp_path / "edits.txt")
    with pytest.raises(ValueError, match=r"an edit name is a non-empty word .*; got 'bad name'"):
        panel.keep("bad name")
    panel.keep("fine")
    with pytest.raises(ValueError, match="an edit named 'fine' is already in the list; choose another name"):
        panel.keep("fine")
    panel.add_term(part=1, alpha=1.0)
    panel.keep("two")                    # one zoo entry of two terms
    panel.keep("two.1")                  # no other name is taken by it
    panel.remove_term(1)
    panel.set_region("painted region")
    with pytest.raises(ValueError, match="edit 'edit4' uses the painted region: an edit zoo holds edits of parts"):
        panel.keep()
    panel.set_region("parts")
    panel.remove_term(0)
    with pytest.raises(ValueError, match="edit 'edit4' has no terms: add a term first"):
        panel.keep()
    assert [e["name"] for e in panel.edits] == ["fine", "two", "two.1"]
    assert list(tmp_path.iterdir()) == []
