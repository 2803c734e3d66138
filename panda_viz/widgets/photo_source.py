"""PhotoSource: upload a photo, choose its crop, invert it in the background, show the reconstruction."""

from __future__ import annotations

import html
import inspect
import io
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..exceptions import InvalidInputError, InvalidStateError
from ..imaging import render
from ..imaging.photos import centre_box
from ._common import DEFAULT_SCALE, ImagePane, LogArea, row_layout
from .panel import BackgroundJob

__all__ = ["PhotoSource", "CROPS"]

#: Crop choices: the largest centred square, the whole photo (stretched), or a typed box.
CROPS = (("centre square", "centre"), ("whole photo", "whole"), ("box", "box"))


class PhotoSource(widgets.VBox):
    """Turn an uploaded photo into an :class:`~panda_viz.generators.inverted.Inversion`.

    Upload a photo (``FileUpload``; any format PIL reads), choose the crop, and it is
    inverted with :func:`panda_viz.invert` in a background thread (the notebook stays
    responsive) with a progress bar over the stages; the cropped photo and the generator's
    reconstruction (with its PSNR) are shown side by side. ``on_inverted(inversion)`` is
    called when it is done (the :class:`~panda_viz.widgets.Explorer` then shows the photo
    in every tab).

    Parameters
    ----------
    generator : Generator
    layer : str, callable or None
        The inversion layer, or a function returning it at inversion time (the Explorer
        picks one at or before its model's layer); ``None`` lets :func:`panda_viz.invert`
        choose.
    on_inverted : callable, optional
    invert_options : dict, optional
        Further arguments of :func:`panda_viz.invert` (e.g. fewer steps).
    scale : int

    Attributes
    ----------
    upload : ipywidgets.FileUpload
    crop : ipywidgets.Dropdown
    box : ipywidgets.Text
        ``left, top, right, bottom`` in pixels, for the "box" crop.
    progress : ipywidgets.IntProgress
    status : ipywidgets.HTML
    original, reconstruction : ImagePane
    inversion : Inversion or None
    inversion_job : BackgroundJob
        Runs :meth:`invert`'s work; ``inversion_job.thread`` is the last inversion's thread.
    """

    def __init__(self, generator: Any, *, layer: str | Callable[[], str | None] | None = None,
                 on_inverted: Callable[[Any], None] | None = None, invert_options: dict | None = None,
                 scale: int = DEFAULT_SCALE) -> None:
        self.generator = generator
        self._layer = layer
        self.on_inverted = on_inverted
        self.invert_options = dict(invert_options or {})
        self.inversion = None
        self.photo: Any = None  # the decoded, upright PIL image
        self.log_area = LogArea()
        guard = self.log_area.guarded
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload a photo")
        self.upload.add_class("panda-photo-upload")
        self.crop = widgets.Dropdown(options=list(CROPS), value="centre", description="crop")
        self.box = widgets.Text(placeholder="left, top, right, bottom", description="box",
                                continuous_update=False, layout=widgets.Layout(width="320px"))
        self.box.layout.display = "none"
        self.invert_button = widgets.Button(description="invert", icon="magic", button_style="primary", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=1, bar_style="info", layout=widgets.Layout(width="320px"))
        self.status = widgets.HTML()
        self.status.add_class("panda-photo-status")
        self.original = ImagePane("photo (cropped)", scale=scale, css_class="panda-photo-target")
        self.reconstruction = ImagePane("reconstruction", scale=scale, css_class="panda-photo-reconstruction")
        self.inversion_job = BackgroundJob("invert", self.invert_button, self.progress, self.log_area)
        self.upload.observe(guard("upload", lambda ch: self._uploaded()), "value")
        self.crop.observe(guard("crop", lambda ch: self._crop_changed()), "value")
        self.box.observe(guard("box", lambda ch: self._crop_changed()), "value")
        self.invert_button.on_click(guard("invert", lambda _b: self.invert()))
        super().__init__([
            widgets.HTML("Upload a photo of a face: it is inverted into the generator, and every tab then works "
                         "on it as on a seed. Crop it so the face sits as the generator's faces do."),
            widgets.HBox([self.upload, self.crop, self.box, self.invert_button]),
            widgets.HBox([self.progress, self.status]),
            widgets.HBox([self.original, self.reconstruction], layout=row_layout()),
            self.log_area,
        ])
        self.add_class("panda-photo-source")

    # ----------------------------------------------------------------- input
    def set_photo(self, photo: Any) -> None:
        """Use ``photo`` (a path, PIL image, encoded bytes or uint8 array); shows its crop."""
        from PIL import Image, ImageOps

        if isinstance(photo, (bytes, bytearray, memoryview)):
            try:
                with Image.open(io.BytesIO(bytes(photo))) as image:
                    image.load()
                    photo = image.copy()
            except Exception as error:  # noqa: BLE001 - anything PIL cannot decode
                raise InvalidInputError(f"the upload is not an image PIL can read ({error})") from None
        elif isinstance(photo, np.ndarray):
            photo = Image.fromarray(photo)
        elif not isinstance(photo, Image.Image):
            with Image.open(photo) as image:
                image.load()
                photo = image.copy()
        self.photo = ImageOps.exif_transpose(photo)
        width, height = self.photo.size
        if not self.box.value:
            self.box.value = ", ".join(map(str, centre_box(height, width)))
        self.invert_button.disabled = False
        self.show_crop()

    def _uploaded(self) -> None:
        files = self.upload.value
        if not files:
            return
        self.box.value = ""  # a new photo: a new default box
        self.set_photo(files[0]["content"])
        self.invert()

    def _crop_changed(self) -> None:
        self.box.layout.display = "" if self.crop.value == "box" else "none"
        if self.photo is not None:
            self.show_crop()

    def crop_box(self) -> tuple[int, int, int, int]:
        """The crop (left, top, right, bottom) the current choice means for the photo."""
        if self.photo is None:
            raise InvalidInputError("no photo yet: upload one first")
        width, height = self.photo.size
        if self.crop.value == "centre":
            return centre_box(height, width)
        if self.crop.value == "whole":
            return (0, 0, width, height)
        try:
            values = tuple(int(round(float(v))) for v in self.box.value.replace(";", ",").split(","))
        except ValueError:
            values = ()
        if len(values) != 4:
            raise InvalidInputError(f"box must be four numbers 'left, top, right, bottom'; got {self.box.value!r}")
        return values

    def show_crop(self) -> None:
        """Show the cropped photo at the generator's resolution."""
        from ..imaging.photos import load_images

        target = load_images(self.photo, tuple(self.generator.image_shape[1:]), box=self.crop_box())
        self.original.show(render.to_uint8(target)[0])

    # ----------------------------------------------------------------- inversion
    def layer(self) -> str | None:
        return self._layer() if callable(self._layer) else self._layer

    def invert(self, *, background: bool = True) -> threading.Thread | None:
        """Invert the photo with the chosen crop; returns the thread (``None`` in the foreground)."""
        from ..inversion.invert import invert

        if self.inversion_job.running:
            raise InvalidStateError("an inversion is already running; wait for it to finish")
        box = self.crop_box()
        self.show_crop()
        options = {"progress": False, **self.invert_options}
        layer = self.layer()
        if layer is not None and "layer" not in options:
            options["layer"] = layer
        self.status.value = "inverting…"
        photo = self.photo
        totals: dict[str, int] = {}

        def callback(stage: str, step: int, n_steps: int, loss: float) -> None:
            totals[stage] = n_steps
            done = sum(totals.values()) - n_steps + step
            self.progress.max = max(self.progress.max, done, 1)
            self.progress.value = done
            self.status.value = f"{html.escape(stage)}: step {step} of {n_steps}, MSE {loss:.4f}"

        def work() -> None:
            defaults = inspect.signature(invert).parameters
            steps = [options.get(k, defaults[k].default) for k in ("latent_steps", "feature_steps", "tune_steps")]
            self.progress.max = max(sum(steps), 1)  # a bad step count is the job's error, logged like the rest
            inversion = invert(self.generator, photo, box=box, callback=callback, **options)
            self.inversion = inversion
            self.reconstruction.show(render.to_uint8(inversion.reconstruction)[0])
            self.reconstruction.set_title(f"reconstruction: {float(inversion.psnr[0]):.1f} dB PSNR")
            self.progress.value = self.progress.max
            seconds = sum(inversion.stage_seconds.values())
            self.status.value = (f"done: {float(inversion.psnr[0]):.1f} dB PSNR in {seconds:.1f} s "
                                 f"(inversion layer {html.escape(str(inversion.layer))})")
            self.log_area.clear_errors()
            if self.on_inverted is not None:
                self.on_inverted(inversion)

        def clear_status() -> None:
            self.status.value = ""

        return self.inversion_job.start(work, total=1, background=background, on_error=clear_status)
