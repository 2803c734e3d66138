"""The Explorer app: one seed for every tab, a shared painted region, fitting with progress."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from panda_viz.exceptions import ConvergenceWarning
from panda_viz.imaging import render
from panda_viz.widgets import Explorer


@pytest.fixture(scope="module")
def app(dcgan, model):
    return Explorer(dcgan, model, seed=1)


def test_the_explorer_is_one_widget_with_every_component(app, model):
    assert app.tabs.titles == ("parts", "saliency", "edit", "removal", "directions", "fit", "photo")
    assert list(app.tabs.children[:5]) == [app.parts, app.saliency, app.edit, app.removal, app.directions]
    assert "panda-explorer" in app._dom_classes
    assert "main.5" in app.header.value and "4 parts" in app.header.value
    assert app.edit.roi is app.removal.roi is app.directions.roi is app.roi  # one painted region
    assert app.log_area.last_error is None
    app.show_tab("edit")
    assert app.tabs.selected_index == 2


def test_one_seed_drives_every_tab(app, dcgan):
    app.seed.set_state({"value": 7})
    expected = render.to_uint8(dcgan.synthesize(dcgan.sample_latents(1, seed=7)))[0]
    for pane in (app.parts.original, app.removal.original):
        assert np.array_equal(pane.array, expected)
    assert np.array_equal(app.edit.original.array, app.edit.outlined(expected))  # the part outlined on it
    assert app.saliency.seed.value == 7
    assert np.array_equal(app.directions.original.array, expected)
    assert np.array_equal(app.roi._image, expected)
    app.next_button.click()
    assert app.edit.seed.value == 8


def test_fitting_in_the_background_reports_progress_and_switches_the_model(app, model):
    app.fit_layer.value, app.fit_samples.value, app.fit_parts.value, app.fit_iter.value = "main.5", 32, 3, 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        thread = app.fit()  # returns at once: the kernel keeps serving the other widgets
        assert app.fit_button.disabled
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert app.log_area.last_error is None, app.log_area.messages
    assert app.fit_progress.bar_style == "success" and app.fit_progress.value == app.fit_progress.max == 5
    assert app.model is not model and app.model.parts_.shape[0] == 3
    assert len(app.parts.toggles) == 3 and "3 parts" in app.header.value
    assert not app.fit_button.disabled


def test_a_bad_fit_request_lands_in_the_log(app):
    app.fit_layer.value, app.fit_parts.value = "main.2", 64  # 4×4 positions: at most 16 parts
    app.fit_button.click()
    assert "parts (at most H·W = 16 at layer 'main.2') must be an int in [1, 16]; got 64" in app.log_area.last_error
