"""CropView: the whole photo, scaled to fit, with a crop rectangle the mouse moves and resizes.

As :class:`~panda_viz.widgets.roi.RoiPainter` does, the browser only sends mouse events
(``ipyevents`` on an ``ipywidgets.Image``); the kernel keeps the box in photo pixels and
draws the rectangle into the PNG it pushes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from ..exceptions import InvalidInputError
from ..imaging import render

__all__ = ["CropView", "MAX_VIEW_SIDE"]

#: The longest side the full photo is shown at, in CSS pixels.
MAX_VIEW_SIDE = 384
#: How close (in shown pixels) to a corner a press grabs it for resizing.
_HANDLE = 12
_EDGE = np.array([255, 200, 0], np.uint8)  # amber: visible on skin, hair and most backgrounds


class CropView(widgets.VBox):
    """Show a photo with its crop box; drag inside the box to move it, at a corner to resize it.

    A press outside the box starts a new box there. The box keeps the aspect ratio
    ``aspect`` (width / height: the generator's, so the crop is not stretched) and stays
    inside the photo.

    Parameters
    ----------
    aspect : float
        Width / height of every box the mouse makes.
    min_side : int
        The smallest box width, in photo pixels.

    Attributes
    ----------
    box : (left, top, right, bottom) ints or None
        In pixels of the upright photo.
    view : ipywidgets.Image
    events : ipyevents.Event
    """

    def __init__(self, *, aspect: float = 1.0, min_side: int = 8) -> None:
        self.aspect = float(aspect)
        self.min_side = int(min_side)
        self.box: tuple[int, int, int, int] | None = None
        self._photo: np.ndarray | None = None
        self._scale = 1.0  # shown pixels per photo pixel
        self._drag: tuple[str, Any] | None = None
        self._callbacks: list[Callable[[tuple[int, int, int, int]], None]] = []
        self.title = widgets.HTML("<b>the photo: drag the box to move it, its corners to resize it</b>")
        self.view = widgets.Image(format="png")
        self.view.add_class("panda-photo-full")
        self.events = Event(source=self.view, watched_events=["mousedown", "mousemove", "mouseup", "mouseleave"],
                            prevent_default_action=True, throttle_or_debounce="throttle", wait=20)
        super().__init__([self.title, self.view], layout=widgets.Layout(align_items="center", margin="0 4px",
                                                                        flex="0 0 auto", display="none"))

    # ------------------------------------------------------------------ state
    def set_photo(self, photo: np.ndarray, box: tuple[int, int, int, int]) -> None:
        """Show ``photo`` (H, W, 3) uint8 with ``box``; the view is shown from now on."""
        photo = np.asarray(photo, np.uint8)
        height, width = photo.shape[:2]
        self._scale = min(1.0, MAX_VIEW_SIDE / max(height, width))
        shown = (max(1, round(width * self._scale)), max(1, round(height * self._scale)))
        from PIL import Image

        self._photo = np.asarray(Image.fromarray(photo).resize(shown, Image.BILINEAR))
        self._size = (width, height)
        self.view.width, self.view.height = str(shown[0]), str(shown[1])
        self.layout.display = ""
        self.set_box(box, notify=False)

    def set_box(self, box: tuple[int, int, int, int], *, notify: bool = True) -> None:
        """Draw ``box`` (photo pixels, inside the photo); ``notify`` calls the :meth:`on_change` callbacks."""
        if self._photo is None:
            raise InvalidInputError("CropView.set_box: no photo yet")
        left, top, right, bottom = (int(round(v)) for v in box)
        width, height = self._size
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            raise InvalidInputError(f"CropView.set_box: box {tuple(box)} is not inside the {width}×{height} photo")
        self.box = (left, top, right, bottom)
        self.render()
        if notify:
            for callback in self._callbacks:
                callback(self.box)

    def on_change(self, callback: Callable[[tuple[int, int, int, int]], None]) -> None:
        """Call ``callback(box)`` after each drag ends (and on :meth:`set_box`)."""
        self._callbacks.append(callback)

    # ------------------------------------------------------------------ mouse
    def _xy(self, event: dict[str, Any]) -> tuple[float, float] | None:
        """The event's position in photo pixels (the shown size may differ from the PNG's)."""
        if self._photo is None:
            return None
        if event.get("boundingRectWidth") and event.get("relativeX") is not None:
            x = float(event["relativeX"]) / float(event["boundingRectWidth"]) * self._size[0]
            y = float(event["relativeY"]) / float(event["boundingRectHeight"]) * self._size[1]
        elif event.get("dataX") is not None:
            x, y = float(event["dataX"]) / self._scale, float(event["dataY"]) / self._scale
        else:
            return None
        return x, y

    def _grab(self, x: float, y: float) -> tuple[str, Any]:
        """What a press at (x, y) drags: a corner (the opposite one stays), the box, or a new box."""
        left, top, right, bottom = self.box
        reach = _HANDLE / self._scale
        for cx, cy, ox, oy in ((left, top, right, bottom), (right, top, left, bottom),
                               (left, bottom, right, top), (right, bottom, left, top)):
            if abs(x - cx) <= reach and abs(y - cy) <= reach:
                return "resize", (ox, oy)
        if left <= x <= right and top <= y <= bottom:
            return "move", (x - left, y - top)
        return "resize", (x, y)

    def _dragged_box(self, x: float, y: float) -> tuple[int, int, int, int]:
        kind, anchor = self._drag
        width, height = self._size
        if kind == "move":
            w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
            left = min(max(x - anchor[0], 0), width - w)
            top = min(max(y - anchor[1], 0), height - h)
            return round(left), round(top), round(left) + w, round(top) + h
        ax, ay = anchor
        sx, sy = (1 if x >= ax else -1), (1 if y >= ay else -1)
        # the largest box of the aspect ratio from the anchor towards the pointer that fits the photo
        room_w = (width - ax) if sx > 0 else ax
        room_h = (height - ay) if sy > 0 else ay
        w = min(max(abs(x - ax), abs(y - ay) * self.aspect, self.min_side), room_w, room_h * self.aspect)
        w = max(w, 1.0)
        h = w / self.aspect
        xs, ys = sorted((ax, ax + sx * w)), sorted((ay, ay + sy * h))
        return round(xs[0]), round(ys[0]), max(round(xs[1]), round(xs[0]) + 1), max(round(ys[1]), round(ys[0]) + 1)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Handle one ipyevents mouse event (what the browser sends; tests call it too)."""
        kind, xy = event.get("type"), self._xy(event)
        if kind == "mousedown" and xy is not None and self.box is not None:
            self._drag = self._grab(*xy)
        elif kind == "mousemove" and self._drag is not None and xy is not None:
            if not event.get("buttons", 1):  # released outside the image
                self._end_drag()
                return
            self.box = self._dragged_box(*xy)
            self.render()
        elif kind in ("mouseup", "mouseleave") and self._drag is not None:
            if kind == "mouseup" and xy is not None:
                self.box = self._dragged_box(*xy)
            self._end_drag()

    def _end_drag(self) -> None:
        self._drag = None
        self.set_box(self.box)

    # ------------------------------------------------------------------ display
    def composite(self) -> np.ndarray:
        """The shown photo, dimmed outside the box, with the box's outline, uint8 (h, w, 3)."""
        out = self._photo.astype(np.float32) * 0.55
        left, top, right, bottom = (int(round(v * self._scale)) for v in self.box)
        h, w = out.shape[:2]
        right, bottom = min(max(right, left + 1), w), min(max(bottom, top + 1), h)
        out[top:bottom, left:right] = self._photo[top:bottom, left:right]
        out = out.round().astype(np.uint8)
        for t in range(2):  # a 2-pixel outline, inside the box
            out[top + t, left:right] = out[bottom - 1 - t, left:right] = _EDGE
            out[top:bottom, left + t] = out[top:bottom, right - 1 - t] = _EDGE
        return out

    def render(self) -> None:
        self.view.value = render.png_bytes(self.composite())
