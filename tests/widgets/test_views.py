"""The parts, saliency and removal tabs: live sliders, the removal's strength and difference,
framed masks, labels that fit (issue 25), on the real generator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import ipywidgets as widgets
import numpy as np
import pytest

from panda_viz.editing import removal
from panda_viz.imaging import render
from panda_viz.widgets import PartsOverlay, RemovalPanel, SaliencyView
from panda_viz.widgets.live import LIVE_LIMIT_S, LiveRule
from panda_viz.widgets.removal_panel import DIFFERENCE_GAIN

SEED = 3
INSIDE = (slice(2, -2), slice(2, -2))  # within the 2-pixel frame


class FakeClock:
    """Returns the given instants in turn: a render's start, then its end."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


# --------------------------------------------------------------------- the live rule
def test_a_slow_render_switches_the_slider_to_release_and_a_fast_one_back():
    slider = widgets.FloatSlider(continuous_update=False)
    rule = LiveRule([slider], clock=FakeClock(10.0, 10.0 + 1.2 * LIVE_LIMIT_S, 20.0, 20.1, 30.0, 30.0 + LIVE_LIMIT_S))
    assert slider.continuous_update and rule.live  # live until a render says otherwise
    drawn = []
    render = rule.timed(lambda value: drawn.append(value))
    render(1)
    assert drawn == [1] and rule.last_s == pytest.approx(1.2 * LIVE_LIMIT_S) and not slider.continuous_update
    render(2)
    assert rule.last_s == pytest.approx(0.1) and slider.continuous_update
    render(3)
    assert slider.continuous_update  # exactly at the limit is still live


def test_a_render_that_fails_records_nothing():
    slider = widgets.FloatSlider()
    rule = LiveRule([slider], clock=FakeClock(0.0, 5.0))

    def fail(_value):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        rule.timed(fail)(1)
    assert rule.last_s is None and slider.continuous_update
    with pytest.raises(ValueError, match="seconds must be a number in"):
        rule.record(-1.0)
    with pytest.raises(ValueError, match="limit_s"):
        LiveRule([slider], limit_s=0)


@pytest.fixture(scope="module")
def saliency_view(dcgan, model):
    return SaliencyView(dcgan, model, appearance=1, seed=SEED, n_threshold_samples=32)


@pytest.fixture(scope="module")
def removal_panel(dcgan, model):
    return RemovalPanel(dcgan, model, seed=SEED, part=2, n_background_samples=32)


@pytest.fixture(scope="module")
def overlay(dcgan, model):
    return PartsOverlay(dcgan, model, seed=SEED)


def test_each_tabs_slider_follows_the_duration_of_its_own_renders(saliency_view, removal_panel, overlay):
    for panel, slider in ((saliency_view, saliency_view.threshold), (removal_panel, removal_panel.strength),
                          (overlay, overlay.opacity)):
        assert panel.live.last_s is not None and panel.live.last_s < 5  # the first render was timed
        assert slider.continuous_update == (panel.live.last_s <= LIVE_LIMIT_S)
        panel.live.clock = FakeClock(0.0, 2 * LIVE_LIMIT_S)  # a render as slow as a 1024-px generator's
        slider.set_state({"value": slider.value + slider.step})
        assert not slider.continuous_update, type(panel).__name__
        panel.live.clock = FakeClock(0.0, 0.05)
        slider.set_state({"value": slider.value - slider.step})
        assert slider.continuous_update, type(panel).__name__
        panel.live.clock = time.perf_counter
        assert panel.log_area.last_error is None


# ----------------------------------------------------------------------- saliency
def test_the_mask_is_blue_on_white_inside_a_frame(saliency_view):
    saliency_view.reset_threshold()
    mask, shown = saliency_view.mask, saliency_view.mask_view.array
    assert shown.shape == (68, 68, 3) and 0 < mask.mean() < 1
    assert np.array_equal(shown, render.framed(render.mask_image(mask)))
    assert (shown[INSIDE][mask] == (31, 119, 180)).all() and (shown[INSIDE][~mask] == 255).all()
    assert (shown[0] != 255).any(axis=-1).all() and (shown[:, -1] != 255).any(axis=-1).all()  # the frame
    masked = saliency_view.masked.array
    assert masked.shape == (68, 68, 3) and (masked[0] != 255).any(axis=-1).all()


def test_moving_the_threshold_changes_the_mask_pane(saliency_view):
    saliency_view.reset_threshold()
    before = saliency_view.mask_view.array.copy()
    saliency_view.threshold.set_state({"value": saliency_view.threshold.value + 0.2 * (
        saliency_view.threshold.max - saliency_view.threshold.value)})
    assert saliency_view.mask.sum() < (before[INSIDE] != 255).any(-1).sum()
    assert not np.array_equal(before, saliency_view.mask_view.array)
    saliency_view.reset_threshold()


# ------------------------------------------------------------------------- removal
def test_the_difference_pane_is_the_amplified_change(removal_panel):
    original, removed = removal_panel.original.array, removal_panel.removed.array
    assert np.array_equal(removal_panel.difference.array,
                          render.amplified_difference(original, removed, gain=DIFFERENCE_GAIN))
    largest = int(np.abs(removed.astype(int) - original).max())
    assert 0 < largest
    assert f"× {DIFFERENCE_GAIN:g}" in removal_panel.difference.title.value
    assert f"largest change {largest}/255" in removal_panel.difference.title.value
    assert "small by construction" in removal_panel.caption.value


def test_the_strength_is_passed_to_the_removal(removal_panel, dcgan, model):
    latents = dcgan.sample_latents(1, seed=SEED)
    b = removal_panel.background.value
    removal_panel.strength.set_state({"value": 2.5})
    expected = removal.remove_images(dcgan, latents, model, 2, b, strength=2.5)
    assert np.array_equal(removal_panel.removed.array, render.to_uint8(expected)[0])
    strong = np.abs(removal_panel.difference.array.astype(int)).sum()
    removal_panel.set_strength(0)
    assert np.array_equal(removal_panel.removed.array, removal_panel.original.array)
    black = render.heatmap(np.zeros((1, 1)), cmap="magma", vmin=0, vmax=1)[0, 0]
    assert (removal_panel.difference.array == black).all() and "largest change 0/255" in removal_panel.difference.title.value
    assert strong > np.abs(removal_panel.difference.array.astype(int)).sum()
    removal_panel.set_strength(6)  # beyond the slider: its range grows
    assert removal_panel.strength.max == 6 and removal_panel.log_area.last_error is None
    with pytest.raises(ValueError, match="strength must be a number in"):
        removal_panel.set_strength(-0.5)
    removal_panel.set_strength(1)


# -------------------------------------------------------------------------- labels
def _described(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    if getattr(widget, "description", "") and hasattr(getattr(widget, "style", None), "description_width"):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from _described(child)


def test_no_label_in_these_tabs_is_cut(saliency_view, removal_panel, overlay):
    # ipywidgets gives a label 80 px unless told otherwise: "initial" sizes it to its text
    for panel in (saliency_view, removal_panel, overlay):
        for widget in _described(panel):
            if isinstance(widget, widgets.Checkbox) and not widget.indent:
                continue  # its label follows the box at its own width
            if len(widget.description) > 6:  # "seed", "part" fit in 80 px
                assert widget.style.description_width == "initial", (type(panel).__name__, widget.description)


def test_a_rule_over_sliders_that_come_and_go_sets_the_ones_there_now():
    rows = [widgets.FloatSlider()]
    rule = LiveRule(lambda: rows, clock=FakeClock(0.0, 2 * LIVE_LIMIT_S))
    rows.append(widgets.FloatSlider(continuous_update=True))  # a term added after the rule was made
    rule.timed(lambda: None)()
    assert not any(slider.continuous_update for slider in rows)
