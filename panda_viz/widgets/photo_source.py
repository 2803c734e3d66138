"""PhotoSource: upload a photo, choose its crop, invert it in the background, show the reconstruction."""

from __future__ import annotations

import hashlib
import html
import inspect
import io
import re
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..exceptions import InvalidInputError, InvalidStateError
from ..imaging import render
from ..imaging.photos import MIN_IMAGE_SIDE, centre_box
from ..runtime.work_folder import work_path
from ._common import DEFAULT_SCALE, ImagePane, LogArea, row_layout
from .crop_box import CropView
from .panel import BackgroundJob

__all__ = ["PhotoSource", "CROPS"]

#: One image space per generator, shared by its photo tabs (fitting one takes seconds).
_SPACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: Crop choices: the largest centred square, the whole photo (stretched), or a typed box.
CROPS = (("centre square", "centre"), ("whole photo", "whole"), ("box", "box"))


class PhotoSource(widgets.VBox):
    """Turn an uploaded photo into an :class:`~panda_viz.generators.inverted.Inversion`.

    Upload a photo (``FileUpload``; any format PIL reads): the whole photo is shown with
    the proposed crop, which the mouse moves and resizes (or the ``box`` field sets in
    pixels; both stay in sync). The "invert" button then inverts the crop with
    :func:`panda_viz.invert` in a background thread (the notebook stays responsive), with
    a progress bar over the stages; the cropped photo and the generator's reconstruction
    (with its PSNR) are shown side by side, with a warning when the photo is far from the
    generator's images (:func:`panda_viz.inversion.typicality.distance_from_generator`).
    The photo and the inversion are saved under the work folder
    (``work_path("photos", …)``) so that :meth:`code` can name them.
    ``on_inverted(inversion)`` is called when it is done (the
    :class:`~panda_viz.widgets.Explorer` then shows the photo in every tab).

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
    full_view : CropView
        The whole photo with the crop box, for the mouse.
    progress : ipywidgets.IntProgress
    status : ipywidgets.HTML
    warning : ipywidgets.HTML
        Empty, or why the photo is far from the generator's images.
    distance : float or None
        The last inversion's distance from the generator's images (1: its samples' 99th percentile).
    code_text : ipywidgets.Textarea
        The Python that reproduces the inversion on show (:meth:`code`).
    original, reconstruction : ImagePane
        Hidden until they have an image.
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
        self.distance: float | None = None
        self.photo: Any = None  # the decoded, upright PIL image
        self._source: tuple[str, Any] | None = None  # ("path", Path) or ("bytes", (name, data)): what code() names
        self._code: str | None = None
        self._photo_ref: str | None = None  # the photo file the code line names
        self._space: Any = None  # the generator's ImageSpace, fitted at the first inversion
        self.log_area = LogArea()
        guard = self.log_area.guarded
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload a photo",
                                         layout=widgets.Layout(width="auto"))
        self.upload.add_class("panda-photo-upload")
        self.crop = widgets.Dropdown(options=list(CROPS), value="centre", description="crop",
                                     layout=widgets.Layout(width="240px"))
        self.box = widgets.Text(placeholder="left, top, right, bottom", description="box",
                                continuous_update=False, layout=widgets.Layout(width="320px"))
        self.box.layout.display = "none"
        self.invert_button = widgets.Button(description="invert", icon="magic", button_style="primary", disabled=True)
        self.invert_button.add_class("panda-photo-invert")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, bar_style="info", layout=widgets.Layout(width="320px"))
        self.status = widgets.HTML()
        self.status.add_class("panda-photo-status")
        self.warning = widgets.HTML()
        self.warning.add_class("panda-photo-warning")
        self.code_text = widgets.Textarea(description="as code", disabled=True,
                                          layout=widgets.Layout(width="100%", height="4.5em", display="none"))
        self.code_text.add_class("panda-photo-code")
        height, width = (int(v) for v in generator.image_shape[1:])
        self.full_view = CropView(aspect=width / height, min_side=MIN_IMAGE_SIDE)
        self.full_view.events.on_dom_event(guard("crop drag", self.full_view.handle_event))
        self.full_view.on_change(guard("crop drag", self._dragged))
        self.original = ImagePane("photo (cropped)", scale=scale, css_class="panda-photo-target")
        self.reconstruction = ImagePane("reconstruction", scale=scale, css_class="panda-photo-reconstruction")
        for pane in (self.original, self.reconstruction):
            pane.layout.display = "none"  # no broken-image icon before there is an image
        self.inversion_job = BackgroundJob("invert", self.invert_button, self.progress, self.log_area)
        self.upload.observe(guard("upload", lambda ch: self._uploaded()), "value")
        self.crop.observe(guard("crop", lambda ch: self._crop_changed()), "value")
        self.box.observe(guard("box", lambda ch: self._crop_changed()), "value")
        self.invert_button.on_click(guard("invert", lambda _b: self.invert()))
        super().__init__([
            widgets.HTML("Upload a photo of a face, place the crop so the face sits as the generator's faces do "
                         "(drag the box, or type it), then press invert: every tab then works on the photo as on "
                         "a seed."),
            widgets.HBox([self.upload, self.crop, self.box, self.invert_button], layout=row_layout()),
            widgets.HBox([self.progress, self.status]),
            self.warning,
            widgets.HBox([self.full_view, self.original, self.reconstruction], layout=row_layout()),
            self.code_text,
            self.log_area,
        ])
        self.add_class("panda-photo-source")

    # ----------------------------------------------------------------- input
    def set_photo(self, photo: Any, *, name: str | None = None) -> None:
        """Use ``photo`` (a path, PIL image, encoded bytes or uint8 array); shows it with its crop.

        ``name`` is the file name encoded bytes came with (an upload's): the saved copy is
        named after it.

        A box already typed is kept when it fits the photo, clamped into it when it overlaps
        it, and replaced by the centred square otherwise (the log says which).
        """
        from PIL import Image, ImageOps

        if isinstance(photo, (bytes, bytearray, memoryview)):
            try:
                with Image.open(io.BytesIO(bytes(photo))) as image:
                    image.load()
                    decoded = image.copy()
            except Exception as error:  # noqa: BLE001 - anything PIL cannot decode
                raise InvalidInputError(f"the upload is not an image PIL can read ({error})") from None
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name or "photo.png")).name).lstrip(".")
            source = ("bytes", (safe or "photo.png", bytes(photo)))
        elif isinstance(photo, np.ndarray):
            decoded, source = Image.fromarray(photo), None
        elif isinstance(photo, Image.Image):
            decoded, source = photo, None
        else:
            with Image.open(photo) as image:
                image.load()
                decoded = image.copy()
            source = ("path", Path(photo).resolve())
        self.photo = ImageOps.exif_transpose(decoded).convert("RGB")
        self._source = source
        # a new photo: what described the last one's inversion goes (the tabs keep showing it until the next)
        self.status.value, self.warning.value = "", ""
        self.reconstruction.layout.display = "none"
        width, height = self.photo.size
        self.full_view.set_photo(np.asarray(self.photo), centre_box(height, width))
        note = self._fit_box(width, height)  # may change the typed box, which redraws the full view
        if self.crop.value != "box":
            note = f"the crop is its {dict((v, k) for k, v in CROPS)[self.crop.value]}"
        self.invert_button.disabled = False
        self.full_view.set_box(self.crop_box(), notify=False)
        self.show_crop()
        self.log_area.info(f"photo {width}×{height}: {note}; adjust the crop, then press invert")

    def _fit_box(self, width: int, height: int) -> str:
        """Keep, clamp or reset the typed box for a new photo; says which."""
        typed = self._typed_box()
        centre = ", ".join(map(str, centre_box(height, width)))
        if typed is None:
            self.box.value = centre
            return "the box is its centred square"
        left, top, right, bottom = typed
        clamped = (max(left, 0), max(top, 0), min(right, width), min(bottom, height))
        if clamped == typed:
            return f"box {typed} kept"
        if clamped[2] - clamped[0] >= MIN_IMAGE_SIDE and clamped[3] - clamped[1] >= MIN_IMAGE_SIDE:
            self.box.value = ", ".join(map(str, clamped))
            return f"box {typed} clamped to {clamped} (it went past the photo's edge)"
        self.box.value = centre
        return f"box {typed} is outside the photo: reset to its centred square ({centre})"

    def _typed_box(self) -> tuple[int, int, int, int] | None:
        try:
            values = tuple(int(round(float(v))) for v in self.box.value.replace(";", ",").split(","))
        except ValueError:
            return None
        return values if len(values) == 4 else None

    def _uploaded(self) -> None:
        files = self.upload.value
        if not files:
            return
        self.set_photo(files[0]["content"], name=files[0].get("name"))

    def _crop_changed(self) -> None:
        self.box.layout.display = "" if self.crop.value == "box" else "none"
        if self.photo is not None:
            self.show_crop()
            self.full_view.set_box(self.crop_box(), notify=False)

    def _dragged(self, box: tuple[int, int, int, int]) -> None:
        """The mouse made ``box``: it becomes the typed box (which redraws both views)."""
        self.box.value = ", ".join(map(str, box))
        self.crop.value = "box"
        self._crop_changed()

    def crop_box(self) -> tuple[int, int, int, int]:
        """The crop (left, top, right, bottom) the current choice means for the photo."""
        if self.photo is None:
            raise InvalidInputError("no photo yet: upload one first")
        width, height = self.photo.size
        if self.crop.value == "centre":
            return centre_box(height, width)
        if self.crop.value == "whole":
            return (0, 0, width, height)
        values = self._typed_box()
        if values is None:
            raise InvalidInputError(f"box must be four numbers 'left, top, right, bottom'; got {self.box.value!r}")
        return values

    def show_crop(self) -> None:
        """Show the cropped photo at the generator's resolution."""
        from ..imaging.photos import load_images

        target = load_images(self.photo, tuple(self.generator.image_shape[1:]), box=self.crop_box())
        self.original.show(render.to_uint8(target)[0])
        self.original.layout.display = ""

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
        # what described the last photo goes now: its PSNR, warning and code line
        self.status.value = "inverting…"
        self.warning.value = ""
        self.reconstruction.layout.display = "none"
        self.reconstruction.set_title("reconstruction")
        self.code_text.value, self.code_text.layout.display, self._code = "", "none", None
        photo, source = self.photo, self._source
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
            self.reconstruction.layout.display = ""
            self.reconstruction.set_title(f"reconstruction: {float(inversion.psnr[0]):.1f} dB PSNR")
            self.status.value = "measuring how far the photo is from the generator's images…"
            self._check_distance(inversion)
            self._code = self._save(inversion, photo, source, box, options)
            self.code_text.value = (f"# made by panda_viz.invert(G, {self._photo_ref!r}, box={box}"
                                    f"{_shown_options(options)})\ninversion = {self._code}")
            self.code_text.layout.display = ""
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

    # ----------------------------------------------------------------- after it
    def _check_distance(self, inversion: Any) -> None:
        """Measure how far the photo is from the generator's images; warn when it is far."""
        from ..inversion import typicality

        if self._space is None:
            try:
                self._space = _SPACES[self.generator]
            except (KeyError, TypeError):  # TypeError: a generator that takes no weak reference
                self._space = typicality.image_space(self.generator)
                try:
                    _SPACES[self.generator] = self._space
                except TypeError:
                    pass
        self.distance = float(typicality.distance_from_generator(self._space, inversion)[0])
        if self.distance > typicality.FAR_FROM_GENERATOR:
            self.warning.value = (
                f'<div style="color:#8a4b00">⚠ {html.escape(self.far_message())}</div>')

    def far_message(self) -> str | None:
        """Why the photo on show is far from the generator's images, in words; ``None`` when it is not."""
        from ..inversion.typicality import FAR_FROM_GENERATOR

        if self.distance is None or self.distance <= FAR_FROM_GENERATOR:
            return None
        name = getattr(self.generator, "name", "the generator")
        return (f"this photo is far from what {name} makes (distance {self.distance:.2f}; 99 % of its own images are "
                "below 1.00): the reconstruction can still be close, but edits and parts learnt on its images "
                "may not mean the same on it")

    def _save(self, inversion: Any, photo: Any, source: tuple[str, Any] | None, box: tuple, options: dict) -> str:
        """Save the photo (unless it is a file already) and the inversion under the work folder; the code line."""
        from ..formats.inversions import save_inversion

        if source is not None and source[0] == "path":
            photo_path = source[1]
            digest = hashlib.sha1(str(photo_path).encode()).hexdigest()[:8]
            stem = photo_path.stem
        else:
            if source is None:
                buffer = io.BytesIO()
                photo.save(buffer, format="PNG")
                source = ("bytes", ("photo.png", buffer.getvalue()))
            name, data = source[1]
            digest = hashlib.sha1(data).hexdigest()[:8]
            stem, suffix = Path(name).stem or "photo", Path(name).suffix or ".png"
            photo_path = work_path("photos", f"{stem}-{digest}{suffix}")
            photo_path.write_bytes(data)
        settings = hashlib.sha1(repr((box, sorted(options.items()))).encode()).hexdigest()[:8]
        path = save_inversion(inversion, work_path("photos", f"{stem}-{digest}-{settings}.inversion.npz"))
        self._photo_ref = str(photo_path)
        return f"panda_viz.load_inversion({str(path)!r}, generator=G)"

    def code(self) -> str | None:
        """A Python expression that gives the inversion on show (``G`` is the generator), or ``None`` before one.

        For example ``panda_viz.load_inversion('…/workspace/photos/face-1a2b3c4d-….inversion.npz',
        generator=G)``: the file was saved when the inversion finished; :attr:`code_text`
        also shows the :func:`panda_viz.invert` call that made it.
        """
        return self._code


def _shown_options(options: dict) -> str:
    """The invert options worth writing in a code line (not the progress bar), as ``, name=value…``."""
    return "".join(f", {k}={v!r}" for k, v in options.items() if k != "progress")
