"""The Explorer's edit tab: a code line that reproduces the screen (seed or photo), live α,
rankings in the background, "save image", the part outlined, stale state cleared."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import panda_viz
from panda_viz.formats.edit_zoo import load_edit_zoo
from panda_viz.formats.inversions import save_inversion
from panda_viz.generators import Inversion
from panda_viz.imaging import render
from panda_viz.widgets import EditPanel
from panda_viz.widgets._common import NO_PHOTO_CODE, Samples
from panda_viz.widgets.ranking_cache import RankingCache

SEED = 5


@pytest.fixture()
def panel(dcgan, model):
    return EditPanel(dcgan, model, seed=SEED, n_rank_candidates=4, rank_in_background=False)


def _run(line, dcgan, model):
    scope = {"G": dcgan, "model": model, "panda_viz": panda_viz}
    exec(line, scope)  # noqa: S102 - the line the panel shows, run as a user would
    return render.to_uint8(scope["images"])[0]


def _photo(dcgan):
    """A one-image Inversion (latents of seed 3 moved a little: not a seed's sample)."""
    z = dcgan.sample_latents(1, seed=3) * 0.9
    x = dcgan.synthesize(z)
    return Inversion(latents=z, generator_name=dcgan.name, target=x, reconstruction=x, psnr=torch.tensor([40.0]))


def test_the_code_line_on_a_seed_reproduces_the_edited_image(panel, dcgan, model):
    panel.set_part(0, 1)
    panel.set_alpha(0, 2.0)
    line = panel.code.value
    assert f"G.sample_latents(1, seed={SEED})" in line
    assert np.array_equal(_run(line, dcgan, model), panel.edited.array)


def test_the_code_line_on_a_photo_uses_the_photos_code_and_no_seed(panel, dcgan, model, tmp_path):
    inversion = _photo(dcgan)
    path = save_inversion(inversion, tmp_path / "photo.npz")
    code = f"panda_viz.formats.inversions.load_inversion({str(path)!r}, generator=G)"
    panel.samples.set_photo(inversion, code=code)
    panel.refresh()
    panel.set_alpha(0, -2.5)
    line = panel.code.value
    assert "seed" not in line and code in line
    shown = panel.edited.array
    assert not np.array_equal(shown, EditPanel(dcgan, model, seed=3, n_rank_candidates=4,
                                               rank_in_background=False).edited.array)
    assert np.array_equal(_run(line, dcgan, model), shown)


def test_a_photo_without_code_says_so_instead_of_naming_a_seed(panel, dcgan):
    panel.samples.set_photo(_photo(dcgan))
    panel.refresh()
    assert "seed" not in panel.code.value and panel.code.value.endswith(NO_PHOTO_CODE)
    panel.samples.set_photo(None)
    panel.refresh()
    assert f"seed={SEED}" in panel.code.value


def test_set_photo_checks_its_code(dcgan):
    with pytest.raises(TypeError, match="code must be a str"):
        Samples(dcgan).set_photo(_photo(dcgan), code=3)


def test_alpha_is_live_unless_a_render_is_slow(panel, monkeypatch):
    monkeypatch.setattr(panel.live, "limit_s", 1e9)  # every render counts as fast
    panel.set_alpha(0, 1.0)
    assert all(row.alpha.continuous_update for row in panel.rows)
    monkeypatch.setattr(panel.live, "limit_s", 0.0)  # every render counts as slow
    panel.set_alpha(0, 1.5)
    assert not any(row.alpha.continuous_update for row in panel.rows)
    assert panel.live.last_s > 0


def test_rankings_fill_in_the_background_and_a_new_model_drops_stale_ones(dcgan, model, model_main8):
    cache = RankingCache(dcgan, n_candidates=4)
    cache.reset(model, layer="main.5", alpha=3.0)
    cache.start().join(timeout=120)
    assert all(cache.cached(k) is not None for k in range(4))
    expected = RankingCache(dcgan, n_candidates=4)
    expected.reset(model, layer="main.5", alpha=3.0)
    assert torch.equal(cache.get(2).appearances, expected.get(2).appearances)  # the copy ranks as the original

    thread = cache.start()  # every part is in: nothing to do
    cache.reset(model_main8, layer="main.8", alpha=3.0)
    thread.join(timeout=120)
    assert all(cache.cached(k) is None for k in range(4))  # the old model's results were not kept
    cache._store(0, 1, expected.get(1))  # a result of an older generation is dropped
    assert cache.cached(1) is None


def test_the_panel_ranks_every_part_in_the_background(dcgan, model):
    panel = EditPanel(dcgan, model, seed=SEED, n_rank_candidates=4)
    panel.rankings.thread.join(timeout=120)
    assert all(panel.rankings.cached(k) is not None for k in range(4))
    panel.set_part(0, 3)  # from the cache
    assert panel.rows[0].appearance.value == int(panel.rankings.cached(3).appearances[0])


def test_save_image_writes_the_edited_pixels_to_the_work_folder(panel, tmp_path, monkeypatch):
    monkeypatch.setenv("PANDA_VIZ_WORK", str(tmp_path))
    panel.set_alpha(0, 3.0)
    first = panel.save_image()
    panel.save_image_button.click()
    second = tmp_path / "images" / f"edited-seed{SEED}-2.png"
    assert first == tmp_path / "images" / f"edited-seed{SEED}-1.png" and second.exists()
    assert np.array_equal(np.asarray(Image.open(first).convert("RGB")), panel.edited.array)
    assert panel.log_area.messages[-1] == ("ok", f"saved the edited image to {second}")
    with pytest.raises(ValueError, match=r"saved as \.png; got"):
        panel.save_image(tmp_path / "x.jpg")


def test_the_save_default_is_the_work_folder(dcgan, model, tmp_path, monkeypatch):
    monkeypatch.setenv("PANDA_VIZ_WORK", str(tmp_path))
    panel = EditPanel(dcgan, model, seed=SEED, n_rank_candidates=4, rank_in_background=False)
    assert panel.save_path.value == str(tmp_path / "edits" / "edits.json")


def test_the_chosen_part_is_outlined_on_the_original(panel, dcgan):
    plain = panel.samples.image(SEED)
    panel.set_part(0, 2)
    changed = np.any(panel.original.array != plain, axis=-1)
    assert changed.any()
    colour = (render.part_colors(4)[2] * 255).round().astype(np.uint8)
    assert (panel.original.array[changed] == colour).all()
    panel.outline.value = False
    assert np.array_equal(panel.original.array, plain)


def test_the_named_edit_menu_resets_when_the_terms_change(panel, dcgan, model, tmp_path):
    panel.set_part(0, 1)
    panel.set_alpha(0, 2.0)
    panel.keep("bright")
    zoo = load_edit_zoo(panel.save(tmp_path / "zoo.json"))
    named = EditPanel(dcgan, model, seed=SEED, n_rank_candidates=4, rank_in_background=False, zoo=zoo)
    named.apply_named_edit("bright")
    assert named.named.value == "bright" and named.rows[0].alpha.value == 2.0
    named.set_alpha(0, 2.0)  # the same terms: still that edit
    assert named.named.value == "bright"
    named.set_alpha(0, 1.0)
    assert named.named.value == ""


def test_the_seed_grid_is_hidden_when_the_terms_or_the_model_change(panel, model):
    panel.apply_to_seeds(2, background=False)
    assert panel.batch.layout.display == "" and panel.batch.array is not None
    panel.set_alpha(0, 1.5)
    assert panel.batch.layout.display == "none" and panel.batch.array is None
    panel.apply_to_seeds(2, background=False)
    panel.set_model(model)
    assert panel.batch.layout.display == "none"
