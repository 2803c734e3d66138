"""Plumbing shared by the widgets: image panes, the log area, a sample cache, model checks.

Nothing here computes an edit or a map: that is :mod:`panda_viz.editing.edits` and
:mod:`panda_viz.imaging.render`. This module only moves arrays into ``ipywidgets.Image`` as PNG
bytes, reports errors in a log area instead of tracebacks, and caches generator passes.
"""

from __future__ import annotations

import html
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .._checks import check_int, describe
from ..editing import edits as editing
from ..exceptions import InvalidIndexError, InvalidInputError, InvalidStateError, InvalidTypeError
from ..imaging import render
from ..runtime.work_folder import work_folder, work_path

__all__ = ["ImagePane", "LogArea", "Samples", "check_index", "check_seed", "part_label",
           "row_layout", "set_slider", "central_part", "DEFAULT_SCALE", "MAX_SEED", "NO_PHOTO_CODE"]

#: 64×64 faces are shown four times larger (nearest neighbour, so pixels stay sharp).
DEFAULT_SCALE = 4
#: The comment a code line ends with when the photo on show has no code that reproduces it.
NO_PHOTO_CODE = "  # inversion: the photo's Inversion (no line reproduces it: take the photo tab's .inversion)"
#: The largest seed the widgets take: their seed boxes' maximum (a box would clamp a larger one silently).
MAX_SEED = 2**31 - 1


def row_layout() -> widgets.Layout:
    """A row of image panes that wraps instead of shrinking the images."""
    return widgets.Layout(flex_flow="row wrap", align_items="flex-start")


def set_slider(slider: widgets.FloatSlider, value: float) -> None:
    """Set ``value``, growing the slider's range to include it (a slider clamps silently)."""
    value = float(value)
    slider.max, slider.min = max(slider.max, value), min(slider.min, value)
    slider.value = value


def central_part(model: Any) -> int:
    """The part strongest at the centre of the layer (usually on the object): a panel's default part."""
    H, W = model.parts_.shape[1:]
    return int(editing.part_maps(model)[:, H // 2, W // 2].argmax())


class ImagePane(widgets.VBox):
    """A titled ``ipywidgets.Image`` fed with uint8 arrays, enlarged ``scale`` times.

    Parameters
    ----------
    title : str
        Shown above the image.
    scale : int
        Nearest-neighbour enlargement of the PNG pushed to the browser.
    css_class : str, optional
        Extra DOM class on the image (the browser test finds images by it).

    Attributes
    ----------
    array : ndarray (H, W, 3) uint8 or None
        The last image shown, at its own resolution (before enlargement).
    image : ipywidgets.Image
        The widget that holds the PNG bytes.
    """

    def __init__(self, title: str, *, scale: int = DEFAULT_SCALE, css_class: str | None = None) -> None:
        self.scale = int(scale)
        self.array: np.ndarray | None = None
        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.image = widgets.Image(format="png")
        self.image.add_class("panda-image")
        if css_class:
            self.image.add_class(css_class)
        super().__init__([self.title, self.image],
                         layout=widgets.Layout(align_items="center", margin="0 4px", flex="0 0 auto"))

    def show(self, array: np.ndarray) -> None:
        """Push ``array`` (H, W, 3) uint8 to the browser."""
        array = np.ascontiguousarray(array, dtype=np.uint8)
        self.array = array
        self.image.value = render.png_bytes(array, scale=self.scale)
        self.image.width = str(array.shape[1] * self.scale)
        self.image.height = str(array.shape[0] * self.scale)

    def save(self, path: str | Path | None = None, *, stem: str = "image") -> Path:
        """Write the image on show (its own pixels, not enlarged) as a PNG, atomically.

        ``path`` defaults to a new file ``images/<stem>-<n>.png`` of the work folder
        (:func:`panda_viz.runtime.work_folder.work_path`), ``n`` the first number not taken.
        """
        if self.array is None:
            raise InvalidStateError("no image to save yet: the pane shows nothing")
        if path is None:
            n = 1
            while (work_folder() / "images" / f"{stem}-{n}.png").exists():
                n += 1
            path = work_path("images", f"{stem}-{n}.png")
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise InvalidInputError(f"an image is saved as .png; got {str(path)!r}")
        return render.save_png(self.array, path)

    def set_title(self, title: str) -> None:
        self.title.value = f"<b>{html.escape(title)}</b>"


class LogArea(widgets.HTML):
    """Where a component reports what went wrong (or what it did), instead of a traceback.

    ``messages`` keeps every message as plain text, newest last; the widget shows the last
    few. Use :meth:`guard` around anything that may fail on user input.
    """

    _COLOURS = {"error": "#b00020", "info": "#444", "ok": "#1b5e20"}

    def __init__(self, *, keep: int = 4) -> None:
        super().__init__(layout=widgets.Layout(min_height="1.6em"))
        self.add_class("panda-log")
        self.keep = keep
        self.messages: list[tuple[str, str]] = []
        #: The last exception :meth:`guard` caught, for a look at its traceback when debugging.
        self.last_exception: BaseException | None = None

    def _write(self, level: str, text: str) -> None:
        self.messages.append((level, text))
        lines = [
            f'<div style="color:{self._COLOURS[lv]}">{"⚠ " if lv == "error" else ""}{html.escape(t)}</div>'
            for lv, t in self.messages[-self.keep:]
        ]
        self.value = "".join(lines)

    def error(self, text: str) -> None:
        self._write("error", text)

    def info(self, text: str) -> None:
        self._write("info", text)

    def ok(self, text: str) -> None:
        self._write("ok", text)

    def clear(self) -> None:
        self.messages.clear()
        self.value = ""

    def clear_errors(self) -> None:
        """Drop error lines (a successful render makes earlier errors stale)."""
        if any(level == "error" for level, _ in self.messages):
            kept = [(lv, t) for lv, t in self.messages if lv != "error"]
            self.messages.clear()
            for level, text in kept:
                self._write(level, text)
            if not kept:
                self.value = ""

    @property
    def last_error(self) -> str | None:
        """The newest error message, or None."""
        for level, text in reversed(self.messages):
            if level == "error":
                return text
        return None

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run the block; an exception becomes an error line ``"<what>: <message>"``."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the point is to keep the app alive
            self.last_exception = exc
            self.error(f"{what}: {exc}" if str(exc) else f"{what}: {type(exc).__name__}")

    def guarded(self, what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` wrapped in :meth:`guard`, for observers and button callbacks."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.guard(what):
                return fn(*args, **kwargs)
            return None

        return wrapper


class Samples:
    """Latents, images and feature maps of single samples by seed, cached; or of one photo.

    One instance is shared by the components of an :class:`~panda_viz.widgets.Explorer`,
    so moving between tabs does not repeat generator passes. After :meth:`set_photo` every
    seed stands for that photo's :class:`~panda_viz.generators.inverted.Inversion`, which
    the library's functions take wherever they take latents, so every component works on
    it unchanged.
    """

    def __init__(self, generator: Any, *, maxsize: int = 16) -> None:
        self.generator = generator
        self.maxsize = maxsize
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.RLock()  # a background fit and the UI may ask at once
        self.photo: Any = None
        self.photo_code: str | None = None
        self._photo_count = 0

    def _get(self, key: tuple, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            value = make()
            self._cache[key] = value
            while len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)
            return value

    def set_photo(self, inversion: Any, *, code: str | None = None) -> None:
        """Show ``inversion`` (an Inversion of one photo) instead of seeds; ``None`` goes back to seeds.

        ``code`` is a Python expression that gives that inversion (e.g. loading the file it was
        saved to), for :meth:`latents_code`; without one the code line says it has none.
        """
        from ..generators import Inversion

        if code is not None and not isinstance(code, str):
            raise InvalidTypeError(f"Samples.set_photo: code must be a str (a Python expression) or None; "
                                   f"got {describe(code)}")

        if inversion is not None and (not isinstance(inversion, Inversion) or len(inversion) != 1):
            got = f"an Inversion of {len(inversion)} photos" if isinstance(inversion, Inversion) else describe(inversion)
            raise InvalidInputError(f"Samples.set_photo: an Inversion of one photo (or None) expected; got {got}")
        with self._lock:
            self.photo = inversion
            self.photo_code = None if inversion is None else code
            self._photo_count += 1

    def latents_code(self, seed: int) -> str:
        """A Python expression for :meth:`latents` (``G`` the generator): the seed's
        ``G.sample_latents(1, seed=S)``, or the photo's code; the name ``inversion`` when the photo
        has no code (a line using it says so: :data:`NO_PHOTO_CODE`)."""
        if self.photo is not None:
            return self.photo_code or "inversion"
        return f"G.sample_latents(1, seed={check_seed(seed)})"

    def source(self, seed: int) -> tuple:
        """What ``seed`` stands for now: ``("seed", seed)``, or ``("photo", n)`` for the n-th photo."""
        if self.photo is not None:
            return ("photo", self._photo_count)
        return ("seed", check_seed(seed))

    def latents(self, seed: int) -> Any:
        """(1, *latent_shape) latents of ``seed``, or the photo's Inversion."""
        if self.photo is not None:
            return self.photo
        seed = check_seed(seed)
        return self._get(("z", seed), lambda: self.generator.sample_latents(1, seed=seed))

    def image(self, seed: int) -> np.ndarray:
        """The unedited image of ``seed`` (the photo's reconstruction), uint8 (H, W, 3)."""
        latents = self.latents(seed)
        return self._get(("x", *self.source(seed)), lambda: render.to_uint8(self.generator.synthesize(latents))[0])

    def features(self, seed: int, layer: str) -> torch.Tensor:
        """Feature maps (1, C, H, W) of ``seed`` (or the photo) at ``layer``."""
        latents = self.latents(seed)
        return self._get(("f", *self.source(seed), layer), lambda: self.generator.features(latents, layer))


def check_seed(seed: Any) -> int:
    """``seed`` as an ``int`` in [0, :data:`MAX_SEED`], the range of the widgets' seed boxes."""
    return check_int("seed", seed, low=0, high=MAX_SEED)


def part_label(k: int, n: int) -> str:
    """HTML label of part ``k`` with its overlay colour (as in :func:`render.part_colors`)."""
    r, g, b = (render.part_colors(n)[k] * 255).round().astype(int)
    return f'<span style="color:rgb({r},{g},{b})">&#9632;</span> part {k}'


def check_index(value: Any, n: int, what: str) -> int:
    """``value`` as an index in range(n).

    Raises
    ------
    InvalidTypeError
        ``value`` is not an integer.
    InvalidIndexError
        It is outside 0..n-1 (the message names ``what`` and ``n``).
    """
    value = check_int(what, value)
    if not 0 <= value < n:
        raise InvalidIndexError(f"{what} {value} out of range: the model has {n} ({what} 0..{n - 1})")
    return value
