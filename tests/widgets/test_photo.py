"""The Explorer's photo source: upload, crop, background inversion, then every tab on the photo."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import cbook

from panda_viz.imaging import render
from panda_viz.widgets import Explorer, PhotoSource

PHOTO = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
FAST = dict(n_starts=1, latent_steps=3, feature_steps=10, tune_steps=5)


def _upload(widget: PhotoSource, data: bytes, name: str = "photo.jpg") -> None:
    widget.upload.value = ({"name": name, "type": "image/jpeg", "size": len(data), "content": memoryview(data),
                            "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)},)


@pytest.fixture(scope="module")
def app(dcgan, model):
    app = Explorer(dcgan, model, seed=1, invert_options=FAST)
    app.photo.crop.value = "box"
    app.photo.box.value = "80, 30, 450, 400"
    return app


@pytest.fixture(scope="module")
def uploaded(app):
    """The photo uploaded as a browser would, inverted in the background thread."""
    _upload(app.photo, PHOTO.read_bytes())
    thread = app.photo.inversion_job.thread
    assert thread is not None  # the upload started the inversion, in the background
    thread.join(timeout=300)
    assert not thread.is_alive()
    return app


def test_an_upload_is_inverted_and_shown_in_every_tab(uploaded):
    app = uploaded
    assert app.photo.log_area.last_error is None, app.photo.log_area.messages
    inversion = app.photo.inversion
    assert inversion is not None and len(inversion) == 1 and inversion.layer == "main.5"
    assert app.photo.progress.bar_style == "success" and "dB PSNR" in app.photo.status.value
    assert app.source.value == "photo" and app.seed.disabled
    reconstruction = render.to_uint8(inversion.reconstruction)[0]
    assert np.array_equal(app.photo.reconstruction.array, reconstruction)
    assert np.array_equal(app.photo.original.array, render.to_uint8(inversion.target)[0])
    for pane in (app.parts.original, app.removal.original, app.directions.original):
        assert np.array_equal(pane.array, reconstruction)
    assert np.array_equal(app.roi._image, reconstruction)
    assert np.array_equal(app.edit.samples.image(0), reconstruction)  # the edit tab outlines the part on it
    assert app.saliency.mask is not None and app.log_area.last_error is None, app.log_area.messages


def test_edits_on_the_photo(uploaded, dcgan):
    app = uploaded
    app.edit.set_alpha(0, 0.0)
    assert np.array_equal(app.edit.edited.array, app.edit.samples.image(0))  # α = 0 is the reconstruction
    app.edit.set_alpha(0, 6.0)
    assert not np.array_equal(app.edit.edited.array, app.edit.samples.image(0))
    assert app.edit.log_area.last_error is None, app.edit.log_area.messages
    app.removal.render()
    assert app.removal.removed.array is not None and app.removal.log_area.last_error is None
    app.directions.set_alpha(3.0)
    assert not np.array_equal(app.directions.edited.array, app.directions.original.array)
    assert app.directions.log_area.last_error is None, app.directions.log_area.messages


def test_back_to_seeds_and_to_the_photo_again(uploaded, dcgan):
    app = uploaded
    app.source.value = "seed"
    expected = render.to_uint8(dcgan.synthesize(dcgan.sample_latents(1, seed=app.seed.value)))[0]
    assert not app.seed.disabled
    assert np.array_equal(app.parts.original.array, expected) and np.array_equal(app.edit.outlined(expected), app.edit.original.array)
    app.source.value = "photo"
    assert np.array_equal(app.parts.original.array, render.to_uint8(app.photo.inversion.reconstruction)[0])


def test_the_photo_source_needs_a_photo(dcgan, model):
    app = Explorer(dcgan, model, seed=0)
    app.source.value = "photo"
    assert app.source.value == "seed" and "no photo yet" in app.log_area.last_error
    app.photo.invert_button.click()  # disabled in the browser until a photo is there; refused here too
    assert "no photo yet" in app.photo.log_area.last_error


def test_bad_uploads_and_crops_land_in_the_log(dcgan):
    photo = PhotoSource(dcgan, invert_options=FAST)
    _upload(photo, b"this is not a picture")
    assert "not an image PIL can read" in photo.log_area.last_error and photo.inversion is None
    photo.set_photo(PHOTO)
    assert photo.box.value == "0, 44, 512, 556"  # the centred square, as a starting point
    photo.crop.value = "box"
    photo.box.value = "1, 2, 3"
    assert "box must be four numbers" in photo.log_area.last_error
    photo.box.value = "0, 0, 900, 100"
    photo.invert_button.click()
    assert "not inside the 512×600 image" in photo.log_area.last_error
    photo.crop.value = "whole"
    assert photo.crop_box() == (0, 0, 512, 600)
    photo.set_photo(np.full((20, 30, 3), 200, np.uint8))
    photo.crop.value = "centre"
    assert photo.crop_box() == (5, 0, 25, 20)
    assert photo.original.array.shape == (64, 64, 3)


def test_the_inversion_layer_comes_at_or_before_the_models(dcgan, model, model_main8):
    assert Explorer(dcgan, model)._inversion_layer() == "main.5"
    assert Explorer(dcgan, model_main8)._inversion_layer() == "main.5"  # the default comes first
    app = Explorer(dcgan, model)
    app.layer = "main.2"
    assert app._inversion_layer() == "main.2"


def test_foreground_inversion_and_callback(dcgan):
    seen = []
    photo = PhotoSource(dcgan, layer="main.8", on_inverted=seen.append, invert_options=FAST)
    photo.set_photo(PHOTO)
    assert photo.invert(background=False) is None
    assert len(seen) == 1 and seen[0].layer == "main.8" and torch.equal(seen[0].reconstruction, photo.inversion.reconstruction)
    assert photo.progress.value == photo.progress.max
