"""RankExplorer driven as a browser would: slider values set, the images and numbers follow;
impossible input becomes a message in the component, never an exception."""

from __future__ import annotations

import re

import numpy as np
import pytest

from panda_viz.imaging import render
from panda_viz.widgets import RankExplorer

N = 24
SAMPLE = 3


@pytest.fixture(scope="module")
def explorer(dcgan):
    # no background sweep here: these tests check what each update draws (the sweep has its own below)
    return RankExplorer(dcgan, "main.5", n_samples=N, sample=SAMPLE, ranks=(256, 8), precompute=(2,), background=False)


def drawn_from(dcgan, explorer, method, r_c, r_s):
    """What the reconstructed pane must show: the generator's image from the model's Ẑ_i."""
    z = explorer.Z[SAMPLE:SAMPLE + 1]
    z_hat = explorer.approximations.get(method, r_c, r_s).reconstruct(z.double()).float()
    return render.to_uint8(dcgan.synthesize_from("main.5", z_hat, explorer.latents[SAMPLE:SAMPLE + 1]))[0]


def test_it_starts_with_the_sample_and_its_hosvd_reconstruction(explorer, dcgan):
    assert explorer.log_area.last_error is None
    assert (explorer.rank_c.max, explorer.rank_s.max, explorer.sample.max) == (256, 64, N - 1)
    original = render.to_uint8(dcgan.synthesize(dcgan.sample_latents(N, seed=0)[SAMPLE:SAMPLE + 1]))[0]
    assert np.array_equal(explorer.original.array, original)
    assert np.array_equal(explorer.reconstructed.array, drawn_from(dcgan, explorer, "hosvd", 256, 8))
    assert explorer.reconstructed.image.value == render.png_bytes(explorer.reconstructed.array, scale=4)
    assert f"{explorer.approximations.hosvd_errors()[255, 7]:.3f}" in explorer.status.value
    for slider in (explorer.rank_c, explorer.rank_s, explorer.sample):
        assert (slider.step, slider.min) == (1, slider.min)   # every rank, in steps of one
        assert slider.continuous_update is explorer.live.live   # live when a redraw is fast
    assert explorer.sweep is None and explorer.sweep_status.value == ""


def test_moving_the_spatial_rank_slider_changes_the_image_and_the_error(explorer, dcgan):
    before = {name: getattr(explorer, name).array.copy() for name in ("reconstructed", "norms", "factors", "error_plot")}
    explorer.rank_s.set_state({"value": 2})          # what the browser sends on release
    try:
        assert explorer.rank_s.value == 2
        assert np.array_equal(explorer.reconstructed.array, drawn_from(dcgan, explorer, "hosvd", 256, 2))
        for name, array in before.items():
            assert not np.array_equal(getattr(explorer, name).array, array), name
        assert explorer.reconstruction_error == pytest.approx(float(explorer.approximations.hosvd_errors()[255, 1]))
        assert explorer.reconstruction_error > float(explorer.approximations.hosvd_errors()[255, 7])
    finally:
        explorer.set_ranks(256, 8)
    assert np.array_equal(explorer.reconstructed.array, before["reconstructed"])


def test_the_step_buttons_move_a_rank_by_one_within_its_range(explorer, dcgan):
    minus, plus = explorer.rank_s_steps.children
    try:
        plus.click()
        assert explorer.rank_s.value == 9
        assert np.array_equal(explorer.reconstructed.array, drawn_from(dcgan, explorer, "hosvd", 256, 9))
        minus.click()
        minus.click()
        assert explorer.rank_s.value == 7
        explorer.set_ranks(256, 64)
        plus.click()                              # at the end of the range: stays
        assert explorer.rank_s.value == 64
        explorer.rank_c_steps.children[0].click()
        assert explorer.rank_c.value == 255
        assert explorer.log_area.last_error is None
    finally:
        explorer.set_ranks(256, 8)


def test_slow_redraws_update_on_release(explorer, monkeypatch):
    monkeypatch.setattr(explorer.live, "limit_s", 0.0)  # every redraw counts as slow
    explorer.render()
    assert explorer.rank_s.continuous_update is False
    monkeypatch.setattr(explorer.live, "limit_s", 60.0)
    explorer.render()
    assert explorer.rank_s.continuous_update is True and explorer.rank_c.continuous_update is True


def test_the_error_plot_marks_the_fitted_points_of_the_current_rank(explorer):
    explorer.set_state(method="mpca", r_c=256, r_s=8)
    try:
        fitted = explorer.approximations.fitted_errors("mpca")
        assert {(256, 2), (256, 8)} <= set(fitted)
        assert explorer.error_plot.array.shape == (432, 1056, 3)
        assert f"{fitted[(256, 8)]:.3f}" in explorer.status.value
    finally:
        explorer.set_method("hosvd")


def test_full_ranks_give_back_the_features_and_the_image(explorer, dcgan):
    assert explorer.set_ranks(256, 64)
    try:
        assert explorer.reconstruction_error == pytest.approx(0, abs=1e-9)
        diff = np.abs(explorer.reconstructed.array.astype(int) - explorer.original.array.astype(int))
        assert diff.max() <= 1  # float32 round-off through the rest of the generator
    finally:
        explorer.set_ranks(256, 8)


def test_switching_method_to_panda_shows_its_parts_and_its_objective(explorer, dcgan):
    hosvd_image = explorer.reconstructed.array.copy()
    explorer.method.set_state({"index": 2})                # the browser sends the index
    try:
        fit = explorer.approximations.get("panda", 256, 8)
        assert explorer.current is fit
        assert explorer.reconstruction_error == fit.error
        assert np.array_equal(explorer.reconstructed.array, drawn_from(dcgan, explorer, "panda", 256, 8))
        assert not np.array_equal(explorer.reconstructed.array, hosvd_image)
        assert "parts P ≥ 0" in explorer.factors.title.value
        # one tile of all parts, then one per part: 9 tiles of 130 px (64 px doubled, plus padding)
        assert explorer.factors.array.shape[1] == 9 * 130 + 2
        explorer.method.set_state({"index": 1})
        assert explorer.reconstruction_error == explorer.approximations.get("mpca", 256, 8).error
        assert "spatial factors U_S" in explorer.factors.title.value
    finally:
        explorer.set_method("hosvd")


def test_a_new_sample_is_drawn_with_the_same_model(explorer, dcgan):
    error = explorer.reconstruction_error
    explorer.sample.set_state({"value": SAMPLE + 1})
    try:
        original = render.to_uint8(dcgan.synthesize(explorer.latents[SAMPLE + 1:SAMPLE + 2]))[0]
        assert np.array_equal(explorer.original.array, original)
        assert explorer.reconstruction_error == error
    finally:
        explorer.set_sample(SAMPLE)


@pytest.mark.parametrize("call, message", [
    (lambda e: e.set_ranks(0, 4), r"not changed: R_C must be an int in \[1, 256\] \(the layer has 256 channels C\); got 0"),
    (lambda e: e.set_ranks(None, 65), r"R_S must be an int in \[1, 64\] \(the layer has 64 positions S = H·W\); got 65"),
    (lambda e: e.set_ranks(3.5, 2), r"R_C must be an int in \[1, 256\].*got 3.5"),
    (lambda e: e.set_method("svd"), r"Invalid method: got 'svd'"),
    (lambda e: e.set_sample(N), rf"sample \(N = {N}\) must be an int in \[0, {N - 1}\]; got {N}"),
])
def test_impossible_values_are_a_message_and_change_nothing(explorer, call, message):
    state = (explorer.method.value, explorer.rank_c.value, explorer.rank_s.value, explorer.sample.value)
    image = explorer.reconstructed.array.copy()
    assert call(explorer) is False
    assert explorer.log_area.last_error is not None
    assert re.search(message, explorer.log_area.last_error)
    assert (explorer.method.value, explorer.rank_c.value, explorer.rank_s.value, explorer.sample.value) == state
    assert np.array_equal(explorer.reconstructed.array, image)
    explorer.render()                       # a good update clears the message
    assert explorer.log_area.last_error is None


def test_impossible_ranks_at_construction_are_a_message(dcgan):
    explorer = RankExplorer(dcgan, "main.2", n_samples=4, ranks=(600, 2), precompute=())
    assert "R_C must be an int in [1, 512]" in explorer.log_area.last_error
    assert (explorer.rank_c.max, explorer.rank_s.max) == (512, 16)   # another layer: 512×4×4
    assert explorer.reconstructed.array is not None                  # still drawn, with the defaults


def test_an_unknown_layer_is_a_message_listing_the_layers(dcgan):
    explorer = RankExplorer(dcgan, "main.55", n_samples=4, precompute=())
    assert explorer.log_area.last_error.startswith("layer: layer 'main.55' not found; did you mean 'main.5' or 'main' or 'main.9'? Layers: main.0 (512×4×4)")
    assert explorer.set_ranks(2, 2) is False
    assert "no features yet" in explorer.log_area.last_error
    assert explorer.reconstructed.array is None


def test_the_background_sweep_fills_every_spatial_rank_after_the_first_view(dcgan):
    explorer = RankExplorer(dcgan, "main.2", n_samples=6, ranks=(512, 4))      # 16 positions
    try:
        assert explorer.reconstructed.array is not None                      # the first view, drawn at once
        assert explorer.sweep is not None
        assert "in the background" in explorer.sweep_status.value or "fitted" in explorer.sweep_status.value
        assert explorer.sweep.wait(timeout=120)
        assert all(explorer.approximations.is_cached(m, 512, r) for m in ("mpca", "panda") for r in range(1, 17))
        explorer.set_method("panda")
        assert explorer._fitting is False                                    # found in the cache
        assert "all 32 fitted" in explorer.sweep_status.value
        assert explorer.log_area.last_error is None
    finally:
        explorer.close()
    assert explorer.sweep is None


def test_it_can_show_features_decomposed_already(dcgan):
    from panda_viz.decomposition.low_rank import LowRankApproximations

    latents = dcgan.sample_latents(6, seed=2)
    approx = LowRankApproximations(dcgan.features(latents, "main.2"))
    fit = approx.get("panda", 512, 3)
    explorer = RankExplorer(dcgan, "main.2", approximations=approx, latents=latents, ranks=(512, 3),
                            method="panda", background=False)
    assert explorer.approximations is approx and explorer.current is fit      # the lesson's own fit, reused
    assert explorer.log_area.last_error is None
    original = render.to_uint8(dcgan.synthesize(latents[:1]))[0]
    assert np.array_equal(explorer.original.array, original)
    wrong = RankExplorer(dcgan, "main.5", approximations=approx, latents=latents, background=False)
    assert "must be those of layer 'main.5'" in wrong.log_area.last_error
    short = RankExplorer(dcgan, "main.2", approximations=approx, latents=latents[:2], background=False)
    assert "latents must be a tensor of N = 6 latents" in short.log_area.last_error
