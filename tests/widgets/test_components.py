"""Widget components driven as a browser would (set_state / values) on the real generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz.editing import edits as editing
from panda_viz.editing import removal, saliency
from panda_viz.editing.ranking import rank_appearances
from panda_viz.exceptions import InvalidIndexError
from panda_viz.formats.edit_zoo import load_edit_zoo
from panda_viz.imaging import render
from panda_viz.widgets import (
    EditPanel,
    PartsOverlay,
    RemovalPanel,
    RoiPainter,
    SaliencyView,
    edit_panel,
)

SEED = 3


# ---------------------------------------------------------------------------- parts
@pytest.fixture(scope="module")
def overlay(dcgan, model):
    return PartsOverlay(dcgan, model, seed=SEED)


def test_parts_overlay_shows_the_sample_with_the_parts_blended(overlay, dcgan, model):
    original = render.to_uint8(dcgan.synthesize(dcgan.sample_latents(1, seed=SEED)))[0]
    assert np.array_equal(overlay.original.array, original)
    expected = render.overlay_parts(original, model.parts_, opacity=overlay.opacity.value)
    assert np.array_equal(overlay.overlay.array, expected)
    assert overlay.overlay.image.value == render.png_bytes(expected, scale=4)  # what the browser gets
    assert len(overlay.toggles) == 4


def test_opacity_zero_shows_exactly_the_sample(overlay):
    overlay.opacity.set_state({"value": 0.0})
    try:
        assert np.array_equal(overlay.overlay.array, overlay.original.array)
    finally:
        overlay.opacity.set_state({"value": 0.6})
    assert not np.array_equal(overlay.overlay.array, overlay.original.array)


def test_a_toggled_off_part_disappears_from_the_overlay(overlay, model):
    original = overlay.original.array
    colours, weight = render.color_parts(model.parts_, original.shape[:2])
    winner = render.upsample(render.normalize_maps(model.parts_), original.shape[:2]).argmax(0)
    k = int(np.bincount(winner.ravel(), minlength=4).argmax())  # the part covering most pixels
    assert (overlay.overlay.array[winner == k] != original[winner == k]).any()
    before = overlay.overlay.array.copy()
    overlay.toggles[k].set_state({"value": False})
    try:
        after = overlay.overlay.array
        assert np.array_equal(after[winner == k], original[winner == k])   # gone where it won
        assert np.array_equal(after[winner != k], before[winner != k])     # the others untouched
    finally:
        overlay.set_visible(k, True)
    assert np.array_equal(overlay.overlay.array, before)


def test_a_new_seed_is_a_new_sample(overlay, dcgan):
    overlay.seed.set_state({"value": SEED + 1})
    try:
        expected = render.to_uint8(dcgan.synthesize(dcgan.sample_latents(1, seed=SEED + 1)))[0]
        assert np.array_equal(overlay.original.array, expected)
    finally:
        overlay.set_seed(SEED)


def test_bad_part_index_and_opacity_raise_with_the_range(overlay):
    with pytest.raises(InvalidIndexError, match=r"part 7 out of range: the model has 4 \(part 0..3\)"):
        overlay.set_visible(7, False)
    with pytest.raises(ValueError, match=r"opacity must be a number in \[0.0, 1.0\]; got 1.5"):
        overlay.set_opacity(1.5)


# ------------------------------------------------------------------------- saliency
@pytest.fixture(scope="module")
def saliency_view(dcgan, model):
    return SaliencyView(dcgan, model, appearance=1, seed=SEED, n_threshold_samples=32)


def test_the_default_threshold_is_mu_k_over_samples(saliency_view, dcgan, model):
    z = dcgan.sample_latents(32, seed=0)
    mu = saliency.saliency_thresholds(model, dcgan.features(z, "main.5"), [1])
    assert saliency_view.threshold.value == pytest.approx(float(mu[0]), rel=1e-5)
    assert "threshold" in saliency_view.threshold.description
    Z = dcgan.features(dcgan.sample_latents(1, seed=SEED), "main.5")
    expected = saliency.localize(model, Z, 1, thresholds=saliency_view.threshold.value, size=(64, 64))[0, 0]
    assert np.array_equal(saliency_view.mask, expected.numpy())


def test_a_threshold_above_the_maximum_gives_an_empty_mask(saliency_view):
    original = saliency_view.samples.image(SEED)
    saliency_view.threshold.set_state({"value": saliency_view.threshold.max})  # the slider's right end
    assert not saliency_view.mask.any()
    inside = (slice(2, -2), slice(2, -2))  # within the panes' 2-pixel frame
    assert (saliency_view.mask_view.array[inside] == 255).all()          # an empty mask is all page colour
    assert np.array_equal(saliency_view.masked.array[inside], original)  # nothing removed
    saliency_view.set_threshold(saliency_view.threshold.min)      # left end: everything
    assert saliency_view.mask.all()
    assert (saliency_view.masked.array[inside] == 255).all()             # all filled with white
    saliency_view.mode.set_state({"index": 1})  # "keep"; selections sync their index
    assert np.array_equal(saliency_view.masked.array[inside], original)
    saliency_view.mode.value = "remove"
    saliency_view.reset_threshold()


def test_switching_appearance_resets_the_threshold_to_its_mu(saliency_view):
    saliency_view.appearance.set_state({"index": 2})
    assert saliency_view.threshold.value == pytest.approx(float(saliency_view.mu[2]), rel=1e-5)
    with pytest.raises(ValueError, match="appearance 256 out of range: the model has 256"):
        saliency_view.set_appearance(256)
    saliency_view.set_appearance(1)


# ---------------------------------------------------------------------------- edits
@pytest.fixture(scope="module")
def edit(dcgan, model):
    return EditPanel(dcgan, model, seed=SEED, n_rank_candidates=8)


def test_alpha_zero_shows_exactly_the_original(edit):
    assert len(edit.rows) == 1 and "α" in edit.rows[0].alpha.description
    assert edit.rows[0].alpha.continuous_update is edit.live.live  # one DCGAN pass is fast: live while dragging
    edit.rows[0].alpha.set_state({"value": 0.0})
    assert np.array_equal(edit.edited.array, edit.samples.image(SEED))  # the original pane adds the outline
    assert len(np.unique(edit.difference.array.reshape(-1, 3), axis=0)) == 1  # a flat "no change" map


def test_moving_alpha_edits_the_part_as_the_editing_module_does(edit, dcgan, model):
    row = edit.rows[0]
    row.alpha.set_state({"value": row.alpha.max / 2})
    assert not np.array_equal(edit.edited.array, edit.samples.image(SEED))
    term = editing.EditTerm(row.part.value, row.appearance.value, row.alpha.value)
    expected = editing.edit_images(dcgan, dcgan.sample_latents(1, seed=SEED), model, [term])
    assert np.array_equal(edit.edited.array, render.to_uint8(expected)[0])


def test_appearances_are_offered_in_ranked_order(edit, dcgan, model):
    ranking = rank_appearances(dcgan, dcgan.sample_latents(4, seed=0), model, edit.rows[0].part.value,
                               candidates=8, alpha=edit._alpha_scale)
    assert [v for _, v in edit.rows[0].appearance.options] == ranking.appearances.tolist()


def test_the_exported_line_of_code_reproduces_the_edit(edit, dcgan, model, tmp_path):
    edit.add_term(part=1)
    edit.set_alpha(1, -3.0)
    namespace = {"panda_viz": panda_viz, "G": dcgan, "model": model}
    exec(edit.code.value, namespace)  # noqa: S102 - the line the user copies
    assert np.array_equal(render.to_uint8(namespace["images"])[0], edit.edited.array)
    edit.keep()
    assert "α = -3" in edit.edit_list.value
    path = edit.save(tmp_path / "edit.json")  # an edit zoo: a two-term edit is one named edit
    saved = load_edit_zoo(path)
    assert list(saved) == ["edit1"]
    assert saved["edit1"].terms[1] == (1, edit.rows[1].appearance.value, -3.0)
    assert f"seed {SEED}" in saved["edit1"].description
    edit.remove_term(1)
    assert len(edit.rows) == 1


def test_apply_to_seeds_draws_originals_above_edits_with_progress(edit, dcgan, model):
    edit.set_alpha(0, 4.0)
    thread = edit.apply_to_seeds(3)  # in a thread: the kernel keeps serving the widgets
    thread.join(timeout=60)
    assert edit.batch_progress.value == edit.batch_progress.max == 3 and edit.batch_progress.bar_style == "success"
    z = torch.cat([dcgan.sample_latents(1, seed=s) for s in range(SEED, SEED + 3)])
    edited = render.to_uint8(editing.edit_images(dcgan, z, model, edit.terms))
    expected = render.grid([*render.to_uint8(dcgan.synthesize(z)), *edited], ncols=3)
    assert np.array_equal(edit.batch.array, expected)
    edit.batch_n.value = 2
    edit.set_region("painted region")
    edit.batch_button.click()  # nothing painted in this panel's region: a message, no thread
    assert "the painted region is empty" in edit.log_area.last_error
    edit.set_region("parts")
    with pytest.raises(ValueError, match=r"number of seeds n must be an int in \[1, 256\]; got 0"):
        edit.apply_to_seeds(0)


def test_a_painted_region_becomes_the_edits_mask(dcgan, model):
    roi = RoiPainter(size=(64, 64), brush=5)
    panel = EditPanel(dcgan, model, seed=SEED, roi=roi, n_rank_candidates=4)
    panel.set_alpha(0, 3 * panel._alpha_scale)
    panel.region.set_state({"index": 1})  # "painted region"
    assert "empty" in panel.log_area.last_error           # nothing painted yet: a message, no traceback
    roi.handle_event({"type": "mousedown", "relativeX": 40, "relativeY": 48, "boundingRectWidth": 256,
                      "boundingRectHeight": 256, "buttons": 1})
    roi.handle_event({"type": "mouseup", "relativeX": 88, "relativeY": 48, "boundingRectWidth": 256,
                      "boundingRectHeight": 256})
    assert panel.log_area.last_error is None              # the stroke re-rendered the edit
    assert np.array_equal(panel.mask, roi.mask) and roi.mask[12, 10:22].all()
    assert all(t.part is None for t in panel.terms)
    term = editing.EditTerm(None, panel.rows[0].appearance.value, panel.rows[0].alpha.value)
    expected = editing.edit_images(dcgan, dcgan.sample_latents(1, seed=SEED), model, [term], mask=roi.mask)
    assert np.array_equal(panel.edited.array, render.to_uint8(expected)[0])
    change = np.abs(panel.edited.array.astype(float) - panel.original.array).mean(-1)
    assert change[:24, :32].mean() > 3 * change[40:, 40:].mean()  # the edit is where the region is


# -------------------------------------------------------------------------- removal
def test_removal_of_a_part_matches_the_editing_module(dcgan, model):
    panel = RemovalPanel(dcgan, model, seed=SEED, part=2, n_background_samples=32)
    z = dcgan.sample_latents(32, seed=0)
    proposed = removal.propose_background_appearance(model, dcgan.features(z, "main.5"))
    assert panel.background.value == proposed
    expected = removal.remove_images(dcgan, dcgan.sample_latents(1, seed=SEED), model, 2, proposed)
    assert np.array_equal(panel.removed.array, render.to_uint8(expected)[0])
    panel.method.set_state({"index": 1})  # "replace"
    expected = removal.remove_images(dcgan, dcgan.sample_latents(1, seed=SEED), model, 2, proposed, method="replace")
    assert np.array_equal(panel.removed.array, render.to_uint8(expected)[0])
    panel.region.set_state({"index": 1})  # "painted region"
    assert "the painted region is empty" in panel.log_area.last_error
    panel.roi.stroke([(30, 30), (34, 34)])
    assert panel.log_area.last_error is None


# ------------------------------------------------------------------------ bad input
def test_a_model_of_another_layer_is_reported_in_the_log(dcgan, model_main8):
    from panda_viz.widgets import Explorer

    app = Explorer(dcgan, model_main8, layer="main.5")
    assert "fitted at layer 'main.8'; got layer='main.5'" in app.log_area.last_error
    assert app.model is None


def test_a_model_of_another_generator_is_reported_in_the_log(dcgan, model):
    from copy import copy

    other = copy(model)
    other.generator_ = "stylegan2-ffhq"
    overlay = PartsOverlay(dcgan, other)
    assert "fitted on generator 'stylegan2-ffhq'; got generator 'dcgan-digiface'" in overlay.log_area.last_error
    wrong_shape = copy(model)
    wrong_shape.generator_, wrong_shape.feature_shape_ = None, (512, 8, 8)
    view = SaliencyView(dcgan, wrong_shape, n_threshold_samples=8)
    assert "the model records feature_shape_ = (512, 8, 8)" in view.log_area.last_error


def test_an_unfitted_model_is_reported_in_the_log(dcgan):
    from panda_viz.decomposition import PandA

    panel = EditPanel(dcgan, PandA(n_parts=4))
    assert panel.log_area.last_error == (
        "model: expected a fitted PandA model (with 'parts_'); got PandA without it "
        "(call fit first, or build one with PandA.from_factors)"
    )


# ---------------------------------------------------------------------- named edits
def test_named_edits_of_the_shipped_zoo_load_their_term(dcgan):
    from panda_viz.formats.edit_zoo import apply_named_edit, load_edit_zoo

    zoo = load_edit_zoo("dcgan-digiface")
    shipped = zoo.load_model("white_lips", dcgan)  # the factors every edit of this zoo uses
    panel = EditPanel(dcgan, shipped, seed=SEED, zoo=zoo, n_rank_candidates=8)
    offered = [v for _, v in panel.named.options if v]
    assert offered == list(zoo) and panel.named.layout.display == ""
    index = [v for _, v in panel.named.options].index("white_lips")
    panel.named.set_state({"index": index})  # as the browser picks it
    assert panel.terms == [editing.EditTerm(*zoo["white_lips"].term)]
    z = dcgan.sample_latents(1, seed=SEED)
    expected = apply_named_edit(dcgan, z, shipped, "white_lips", zoo=zoo)
    assert np.array_equal(panel.edited.array, render.to_uint8(expected)[0])
    union = next(n for n in zoo if isinstance(zoo[n].part, tuple))
    panel.apply_named_edit(union)
    assert panel.terms[0].part == zoo[union].part and panel.rows[0].part.value == zoo[union].part


def test_named_edits_are_not_offered_for_other_factors(edit):
    from panda_viz.formats.edit_zoo import load_edit_zoo

    edit.zoo = load_edit_zoo("dcgan-digiface")
    try:
        edit._offer_named_edits()
        assert [v for _, v in edit.named.options] == [""] and edit.named.layout.display == "none"
        with pytest.raises(ValueError, match="'white_lips' is not made with the model on show; these are: none"):
            edit.apply_named_edit("white_lips")
    finally:
        edit.zoo = None
        edit._offer_named_edits()
