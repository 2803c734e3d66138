"""The Explorer's photo source: upload, crop (typed or dragged), invert on request, then every tab on the photo."""

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


@pytest.fixture(autouse=True)
def work_folder(tmp_path, monkeypatch):
    """Inversions are saved under the work folder: a temporary one."""
    monkeypatch.setenv("PANDA_VIZ_WORK", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def module_work(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("work")
        patch.setenv("PANDA_VIZ_WORK", str(folder))
        yield folder


@pytest.fixture(scope="module")
def app(dcgan, model, module_work):
    app = Explorer(dcgan, model, seed=1, invert_options=FAST)
    app.photo.crop.value = "box"
    app.photo.box.value = "80, 30, 450, 400"  # typed before the upload: kept
    return app


@pytest.fixture(scope="module")
def uploaded(app, module_work):
    """The photo uploaded as a browser would; the upload waits for the invert button, which inverts in a thread."""
    assert app.photo.original.layout.display == "none" and app.photo.full_view.layout.display == "none"
    _upload(app.photo, PHOTO.read_bytes(), name="grace hopper.jpg")
    assert app.photo.inversion_job.thread is None and app.photo.inversion is None  # nothing started yet
    assert app.photo.full_view.layout.display == "" and app.photo.full_view.box == (80, 30, 450, 400)
    assert "box (80, 30, 450, 400) kept" in app.photo.log_area.messages[-1][1]
    app.photo.invert_button.click()
    thread = app.photo.inversion_job.thread
    assert thread is not None and app.photo.status.value == "inverting…"
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
    assert "the crop is its centre square" in photo.log_area.messages[-1][1]
    photo.crop.value = "box"
    photo.box.value = "1, 2, 3"
    assert "box must be four numbers" in photo.log_area.last_error
    photo.crop.value = "centre"
    photo.box.value = "0, 0, 900, 100"
    photo.crop.value = "box"
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


def test_the_inversion_is_saved_and_its_code_line_reproduces_it(uploaded, dcgan, module_work):
    import panda_viz

    photo = uploaded.photo
    code = photo.code()
    assert code is not None and code.startswith("panda_viz.load_inversion(") and "generator=G" in code
    saved = list((module_work / "photos").iterdir())
    assert sorted(p.suffix for p in saved) == [".jpg", ".npz"]
    assert next(p for p in saved if p.suffix == ".jpg").read_bytes() == PHOTO.read_bytes()  # the upload's bytes
    assert "grace_hopper-" in code and str(module_work) in code
    inversion = eval(code, {"panda_viz": panda_viz, "G": dcgan})  # noqa: S307 - the line the user copies
    assert torch.equal(inversion.latents, photo.inversion.latents.cpu())
    image = render.to_uint8(dcgan.synthesize(inversion))[0]
    assert np.array_equal(image, photo.reconstruction.array)  # the image on screen
    assert code in photo.code_text.value and "box=(80, 30, 450, 400)" in photo.code_text.value
    assert photo.code_text.layout.display == ""


def test_a_non_face_is_flagged_in_the_tab_and_the_header(dcgan, model):
    app = Explorer(dcgan, model, seed=1, invert_options=dict(n_starts=1, latent_steps=2, feature_steps=2, tune_steps=0))
    app.photo.set_photo(PHOTO.parent / "Minduka_Present_Blue_Pack.png")
    app.photo.invert(background=False)
    assert app.photo.distance > 1.4
    assert "far from what dcgan-digiface makes" in app.photo.warning.value
    assert "far from what" in app.header.value and app.source.value == "photo"
    app.source.value = "seed"
    assert "far from what" not in app.header.value  # the warning is about the photo, not the seeds
    # the next photo starts clean: no warning, no PSNR, no code line while it is cropped and inverted
    app.photo.set_photo(np.asarray(render.to_uint8(dcgan.synthesize(dcgan.sample_latents(1, seed=3)))[0]))
    assert app.photo.warning.value == "" and app.photo.status.value == ""
    assert app.photo.reconstruction.layout.display == "none"


def test_stale_state_goes_when_the_next_photo_inverts(dcgan):
    photo = PhotoSource(dcgan, invert_options=FAST)
    photo.set_photo(PHOTO)
    photo.invert(background=False)
    assert "dB PSNR" in photo.reconstruction.title.value and photo.code() is not None
    seen = {}
    photo.on_inverted = lambda inv: None
    original_start = photo.inversion_job.start

    def spy(work, **kwargs):
        seen.update(status=photo.status.value, title=photo.reconstruction.title.value, code=photo.code(),
                    shown=photo.reconstruction.layout.display, text=photo.code_text.value)
        return original_start(work, **kwargs)

    photo.inversion_job.start = spy
    photo.invert(background=False)
    assert seen == {"status": "inverting…", "title": "<b>reconstruction</b>", "code": None, "shown": "none", "text": ""}
    assert "dB PSNR" in photo.reconstruction.title.value  # and back once it is done


def test_a_typed_box_is_clamped_or_reset_for_the_next_photo(dcgan):
    photo = PhotoSource(dcgan, invert_options=FAST)
    photo.crop.value = "box"
    photo.box.value = "100, 100, 700, 700"
    photo.set_photo(PHOTO)  # 512×600: the box goes past the right edge
    assert photo.box.value == "100, 100, 512, 600"
    assert "clamped to (100, 100, 512, 600)" in photo.log_area.messages[-1][1]
    photo.box.value = "600, 700, 900, 900"
    photo.set_photo(np.full((100, 120, 3), 90, np.uint8))
    assert photo.box.value == "10, 0, 110, 100" and "reset to its centred square" in photo.log_area.messages[-1][1]
    assert photo.full_view.box == (10, 0, 110, 100)


def _mouse(view, kind, x, y, buttons=1):
    """An ipyevents event at photo pixel (x, y), as the browser reports it (CSS pixels of the shown image)."""
    width, height = view._size
    shown_w, shown_h = int(view.view.width), int(view.view.height)
    view.handle_event({"type": kind, "relativeX": x / width * shown_w, "relativeY": y / height * shown_h,
                       "boundingRectWidth": shown_w, "boundingRectHeight": shown_h, "buttons": buttons})


def test_dragging_the_box_moves_and_resizes_it_in_sync_with_the_typed_box(dcgan):
    photo = PhotoSource(dcgan, invert_options=FAST)
    photo.set_photo(PHOTO)  # 512×600, shown at 328×384
    view = photo.full_view
    assert (view.view.width, view.view.height) == ("328", "384") and view.box == (0, 44, 512, 556)
    before = view.composite()
    # grab the bottom-right corner and drag it up-left: a smaller square, top-left corner fixed
    _mouse(view, "mousedown", 511, 555)
    _mouse(view, "mousemove", 300, 200)
    assert photo.box.value == "0, 44, 512, 556"  # the typed box follows when the drag ends
    _mouse(view, "mouseup", 300, 250)
    assert view.box == (0, 44, 300, 344) and photo.crop.value == "box" and photo.box.value == "0, 44, 300, 344"
    assert photo.crop_box() == (0, 44, 300, 344) and not np.array_equal(view.composite(), before)
    # move it: press inside, drag by (+100, +50); it stops at the photo's edge
    _mouse(view, "mousedown", 150, 200)
    _mouse(view, "mouseup", 250, 250)
    assert view.box == (100, 94, 400, 394)
    _mouse(view, "mousedown", 150, 200)
    _mouse(view, "mouseup", 2000, 2000)
    assert view.box == (212, 300, 512, 600)  # clamped inside 512×600
    # a press outside the box starts a new square there
    _mouse(view, "mousedown", 20, 20)
    _mouse(view, "mouseup", 120, 60)
    assert view.box == (20, 20, 120, 120)
    # typing the box moves the rectangle
    photo.box.value = "10, 10, 210, 210"
    assert view.box == (10, 10, 210, 210)
    assert np.array_equal(photo.original.array.shape, (64, 64, 3))
    assert photo.log_area.last_error is None, photo.log_area.messages


def test_labels_are_not_cut(dcgan):
    photo = PhotoSource(dcgan)
    assert photo.upload.layout.width == "auto"  # the button grows to "upload a photo (0)"


def test_the_edit_tabs_code_line_on_the_photo_reproduces_the_edited_photo(uploaded, dcgan, model):
    import panda_viz

    app = uploaded
    assert app.source.value == "photo"
    app.edit.set_alpha(0, 4.0)
    line = app.edit.code_line()
    assert "seed=" not in line and "load_inversion(" in line, line  # the photo on show, never a seed's sample
    scope = {"panda_viz": panda_viz, "G": dcgan, "model": model}
    exec(line, scope)  # noqa: S102 - the line a user copies
    assert np.array_equal(render.to_uint8(scope["images"])[0], app.edit.edited.array)
