"""Paint a region of interest with the mouse: the paper's "draw a ROI by hand at test time".

The mask lives on the kernel side as an image-sized float array in [0, 1]; the browser only
sends mouse events (``ipyevents`` on an ``ipywidgets.Image``) and shows the PNG the kernel
composes. An edit or a removal takes :attr:`RoiPainter.mask` as its mask; the editing
module resamples image-sized masks to the layer's resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from ..exceptions import InvalidInputError
from ._common import DEFAULT_SCALE, ImagePane, LogArea

__all__ = ["RoiPainter"]

_TINT = np.array([255, 64, 160], np.float32)  # magenta: unlike any face or part colour


class RoiPainter(widgets.VBox):
    """Brush, erase and clear a mask over an image.

    Parameters
    ----------
    image : ndarray (H, W, 3) uint8, optional
        What to paint on; a grey canvas of ``size`` if omitted.
    size : (H, W)
        Mask size when no image is given.
    brush : int
        Brush radius in image pixels.
    scale : int
        Display enlargement.

    Attributes
    ----------
    mask : ndarray (H, W) float32 in [0, 1]
        The painted region (a copy; use :meth:`set_mask` to replace it).
    brush, mode, clear_button : widgets
        Brush radius slider, "paint"/"erase" toggle, clear button.
    events : ipyevents.Event
        The mouse events of the image.

    Notes
    -----
    Mouse down starts a stroke, moves with the button held paint (or erase) discs joined by
    lines, mouse up or leaving the image ends the stroke and notifies the
    :meth:`on_change` callbacks (so an edit re-renders once per stroke, not per move).
    """

    def __init__(self, image: np.ndarray | None = None, *, size: tuple[int, int] = (64, 64), brush: int = 4,
                 scale: int = DEFAULT_SCALE) -> None:
        if image is None:
            image = np.full((*size, 3), 128, np.uint8)
        self._image = np.asarray(image, np.uint8)
        self._mask = np.zeros(self._image.shape[:2], np.float32)
        self._stroke_last: tuple[float, float] | None = None
        self._callbacks: list[Callable[[np.ndarray], None]] = []
        self.log_area = LogArea()
        self.brush = widgets.IntSlider(value=brush, min=1, max=16, description="brush", continuous_update=True)
        self.mode = widgets.ToggleButtons(options=["paint", "erase"], value="paint", description="",
                                          style={"button_width": "64px"})
        self.clear_button = widgets.Button(description="clear", icon="eraser", layout=widgets.Layout(width="80px"))
        self.clear_button.on_click(self.log_area.guarded("clear", lambda _b: self.clear()))
        self.view = ImagePane("paint a region", scale=scale, css_class="panda-roi")
        self.events = Event(source=self.view.image, watched_events=["mousedown", "mousemove", "mouseup", "mouseleave"],
                            prevent_default_action=True, throttle_or_debounce="throttle", wait=20)
        self.events.on_dom_event(self.log_area.guarded("painting", self.handle_event))
        super().__init__([self.view, widgets.HBox([self.mode, self.clear_button]), self.brush, self.log_area])
        self.render()

    # -------------------------------------------------------------- state
    @property
    def mask(self) -> np.ndarray:
        return self._mask.copy()

    @property
    def is_empty(self) -> bool:
        return not bool(self._mask.any())

    def set_mask(self, mask: np.ndarray) -> None:
        """Replace the mask with ``mask`` (H, W) in [0, 1] (the image's size)."""
        mask = np.asarray(mask, np.float32)
        if mask.shape != self._mask.shape:
            raise InvalidInputError(f"RoiPainter.set_mask: mask of shape {self._mask.shape} (the image's) expected; "
                                    f"got {mask.shape}")
        self._mask = mask.clip(0, 1)
        self.render()
        self._notify()

    def set_image(self, image: np.ndarray) -> None:
        """Paint over another image of the same size (the mask is kept)."""
        image = np.asarray(image, np.uint8)
        if image.shape[:2] != self._mask.shape:
            raise InvalidInputError(f"RoiPainter.set_image: image of size {self._mask.shape} expected; "
                                    f"got {image.shape[:2]}")
        self._image = image
        self.render()

    def on_change(self, callback: Callable[[np.ndarray], None]) -> None:
        """Call ``callback(mask)`` after each stroke, clear or :meth:`set_mask`."""
        self._callbacks.append(callback)

    def _notify(self) -> None:
        for callback in self._callbacks:
            callback(self.mask)

    # ------------------------------------------------------------ painting
    def paint(self, x: float, y: float, *, erase: bool | None = None) -> None:
        """Paint (or erase) a disc of the brush radius at image pixel (x, y)."""
        self._disc(x, y, erase)
        self.render()

    def stroke(self, points: list[tuple[float, float]], *, erase: bool | None = None) -> None:
        """Paint along a polyline of image pixel coordinates, then notify (one stroke)."""
        for (x0, y0), (x1, y1) in zip(points, points[1:] or points):
            self._segment(x0, y0, x1, y1, erase)
        self.render()
        self._notify()

    def clear(self) -> None:
        """Erase everything."""
        self._mask[:] = 0
        self.render()
        self._notify()

    def _erasing(self, erase: bool | None) -> bool:
        return self.mode.value == "erase" if erase is None else bool(erase)

    def _disc(self, x: float, y: float, erase: bool | None) -> None:
        h, w = self._mask.shape
        r = float(self.brush.value)
        yy, xx = np.ogrid[:h, :w]
        # pixel centres at +0.5: a disc of radius r around the pointer position
        inside = (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r
        self._mask[inside] = 0.0 if self._erasing(erase) else 1.0

    def _segment(self, x0: float, y0: float, x1: float, y1: float, erase: bool | None) -> None:
        steps = max(1, int(np.ceil(np.hypot(x1 - x0, y1 - y0) / max(self.brush.value / 2, 0.5))))
        for t in np.linspace(0, 1, steps + 1):
            self._disc(x0 + t * (x1 - x0), y0 + t * (y1 - y0), erase)

    def _event_xy(self, event: dict[str, Any]) -> tuple[float, float] | None:
        h, w = self._mask.shape
        if event.get("boundingRectWidth") and event.get("relativeX") is not None:
            # CSS pixels relative to the element, whatever size the browser shows it at
            x = float(event["relativeX"]) / float(event["boundingRectWidth"]) * w
            y = float(event["relativeY"]) / float(event["boundingRectHeight"]) * h
        elif event.get("dataX") is not None:
            x = float(event["dataX"]) / self.view.scale
            y = float(event["dataY"]) / self.view.scale
        else:
            return None
        return x, y

    def handle_event(self, event: dict[str, Any]) -> None:
        """Handle one ipyevents mouse event (what the browser sends; tests call it too)."""
        kind = event.get("type")
        xy = self._event_xy(event)
        if kind == "mousedown" and xy is not None:
            self._stroke_last = xy
            self.paint(*xy)
        elif kind == "mousemove" and self._stroke_last is not None and xy is not None:
            if not event.get("buttons", 1):  # button released outside the image
                self._end_stroke()
                return
            self._segment(*self._stroke_last, *xy, None)
            self._stroke_last = xy
            self.render()
        elif kind in ("mouseup", "mouseleave") and self._stroke_last is not None:
            if kind == "mouseup" and xy is not None:
                self._segment(*self._stroke_last, *xy, None)
            self._end_stroke()

    def _end_stroke(self) -> None:
        self._stroke_last = None
        self.render()
        self._notify()

    # ------------------------------------------------------------- display
    def composite(self) -> np.ndarray:
        """The image with the painted region tinted and its outline drawn, uint8 (H, W, 3)."""
        m = self._mask[..., None]
        out = (1 - 0.45 * m) * self._image + 0.45 * m * _TINT
        edge = _outline(self._mask > 0.5)
        out[edge] = _TINT
        return out.round().clip(0, 255).astype(np.uint8)

    def render(self) -> None:
        self.view.show(self.composite())
        area = float(self._mask.mean())
        self.view.set_title(f"paint a region ({area:.0%} of the image)" if area else "paint a region (empty)")
        self.log_area.clear_errors()


def _outline(region: np.ndarray) -> np.ndarray:
    """Pixels of ``region`` with a 4-neighbour outside it."""
    padded = np.pad(region, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return region & ~interior

