"""The base of the widget panels: a seed box, image panes, a log line and one guarded render.

Every panel (:class:`~panda_viz.widgets.PartsOverlay`, :class:`~panda_viz.widgets.SaliencyView`,
:class:`~panda_viz.widgets.EditPanel`, :class:`~panda_viz.widgets.RemovalPanel`,
:class:`~panda_viz.widgets.DirectionsPanel`, :class:`~panda_viz.widgets.RankExplorer`) is a
:class:`Panel`: it builds its controls, says which images it draws (:meth:`Panel.composite`,
in the order of :attr:`Panel.panes`) and when it can draw them (:meth:`Panel.ready`); the
render, the seed, the painted region and errors-as-messages work the same way in all of them.
:class:`BackgroundJob` runs long work (a batch of edits, a fit) in a thread with a progress bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import numpy as np

from .._checks import check_choice
from ..exceptions import InvalidInputError, InvalidStateError
from ._common import (
    DEFAULT_SCALE,
    MAX_SEED,
    ImagePane,
    LogArea,
    Samples,
    check_seed,
    row_layout,
)
from .roi import RoiPainter

__all__ = ["Panel", "BackgroundJob", "PARTS", "PAINTED"]

#: The two values of a panel's region toggle: edit the model's parts, or a region painted by hand.
PARTS, PAINTED = "parts", "painted region"


class Panel(widgets.VBox):
    """Plumbing shared by the widget panels; a subclass says what to draw.

    A subclass calls ``super().__init__`` first, then builds its controls (observers wrapped
    in :meth:`guard`), sets :attr:`panes`, lays itself out with :meth:`set_body` and defines
    :meth:`composite`. :meth:`render` is then the same everywhere: nothing while several
    controls change together (:meth:`render_held`) or before the panel is :meth:`ready`;
    otherwise the composite's images go into the panes, :meth:`_rendered` updates what else
    depends on them (titles, readouts) and stale error lines are cleared.

    Parameters
    ----------
    generator : Generator
    seed : int or None
        The sample shown; ``None`` for a panel without a seed box.
    samples : Samples, optional
        A shared sample cache (the Explorer passes one); a new one by default.
    scale : int
        Display enlargement of the images (nearest neighbour).

    Attributes
    ----------
    generator : Generator
    samples : Samples
    scale : int
    seed : ipywidgets.BoundedIntText or None
        Sample seed; a new seed is one generator pass, applied on Enter / focus loss.
    panes : tuple of ImagePane
        What :meth:`render` fills, in the order of :meth:`composite`'s images.
    roi : RoiPainter or None
        The painted region of a panel that uses one (:meth:`use_painter`).
    region : ipywidgets.ToggleButtons or None
        "parts" or "painted region", in a panel that edits either (:meth:`region_toggle`).
    log_area : LogArea
        Where errors show as messages instead of tracebacks.
    """

    def __init__(self, generator: Any, *, seed: int | None = 0, samples: Samples | None = None,
                 scale: int = DEFAULT_SCALE) -> None:
        super().__init__()
        self.generator = generator
        self.samples = samples or Samples(generator)
        self.scale = int(scale)
        self.log_area = LogArea()
        self.panes: tuple[ImagePane, ...] = ()
        self.roi: RoiPainter | None = None
        self.region: widgets.ToggleButtons | None = None
        self._roi_box: widgets.VBox | None = None
        self._busy = False
        self.seed: widgets.BoundedIntText | None = None
        if seed is not None:
            self.seed = widgets.BoundedIntText(value=check_seed(seed), min=0, max=MAX_SEED, description="seed",
                                               continuous_update=False, layout=widgets.Layout(width="160px"))
            self.seed.observe(self.guard("sample", lambda _change: self._seed_changed()), "value")

    # ------------------------------------------------------------- building
    def guard(self, what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` for an observer or a button: an exception becomes the line ``"<what>: <message>"``."""
        return self.log_area.guarded(what, fn)

    def pane(self, title: str, css_class: str | None = None, *, scale: int | None = None) -> ImagePane:
        """An :class:`ImagePane` at the panel's scale (or ``scale``)."""
        return ImagePane(title, scale=self.scale if scale is None else scale, css_class=css_class)

    def image_row(self) -> widgets.HBox:
        """The panes side by side (with the painter after them when the region toggle shows it)."""
        extra = [self._roi_box] if self._roi_box is not None else []
        return widgets.HBox([*self.panes, *extra], layout=row_layout())

    def set_body(self, *rows: widgets.Widget) -> None:
        """Lay the panel out: ``rows`` top to bottom, then the log line."""
        self.children = (*rows, self.log_area)

    # ------------------------------------------------------------- rendering
    @contextmanager
    def render_held(self) -> Iterator[None]:
        """Change several controls without a render for each; the caller renders once after."""
        was_busy, self._busy = self._busy, True
        try:
            yield
        finally:
            self._busy = was_busy

    def ready(self) -> bool:
        """Whether there is something to draw (a panel that needs a model says whether it has one)."""
        return True

    def composite(self) -> tuple[np.ndarray, ...]:
        """The images of :attr:`panes`, uint8 (H, W, 3) each, for the current controls."""
        raise InvalidStateError(f"{type(self).__name__} defines no composite(): a Panel subclass says what it draws")

    def render(self) -> None:
        """Compose and show the images, unless held or not ready; clears stale error lines."""
        if self._busy or not self.ready():
            return
        images = self.composite()
        for pane, image in zip(self.panes, images, strict=True):
            pane.show(image)
        self._rendered(images)
        self.log_area.clear_errors()

    def _rendered(self, images: Sequence[np.ndarray]) -> None:
        """After the panes are shown: what else follows them (titles, readouts)."""

    # ------------------------------------------------------------- the seed
    def set_seed(self, seed: int) -> None:
        """Show sample ``seed`` (a non-negative int)."""
        if self.seed is None:
            raise InvalidInputError(f"{type(self).__name__} has no seed box: it does not show samples by seed")
        self.seed.value = check_seed(seed)

    def refresh(self) -> None:
        """Show the current sample again, as after a new seed (the Explorer's source changed:
        a photo instead of seeds, or back)."""
        self._seed_changed()

    def _seed_changed(self) -> None:
        """A new sample: the painter shows it, then render (a panel with more to redo overrides)."""
        if self.roi is not None:
            self.roi.set_image(self.samples.image(self.seed.value))
        self.render()

    # ------------------------------------------------------ the painted region
    def use_painter(self, roi: RoiPainter | None, on_change: Callable[[], None] | None = None) -> RoiPainter:
        """Paint on ``roi`` (shared with other panels) or on a new painter over this panel's sample.

        ``on_change`` runs after each stroke; by default the panel re-renders when its region
        toggle is on the painted region.
        """
        self.roi = roi or RoiPainter(self.samples.image(self.seed.value), scale=self.scale)
        if on_change is None:
            on_change = lambda: self.render() if self.painting else None  # noqa: E731
        self.roi.on_change(self.guard("painted region", lambda _mask: on_change()))
        return self.roi

    def region_toggle(self, description: str) -> widgets.ToggleButtons:
        """The "parts" / "painted region" toggle (after :meth:`use_painter`); the painter shows
        beside the images (:meth:`image_row`) while the painted region is chosen."""
        self.region = widgets.ToggleButtons(options=[PARTS, PAINTED], value=PARTS, description=description,
                                            style={"button_width": "120px", "description_width": "initial"})
        self._roi_box = widgets.VBox([self.roi], layout=widgets.Layout(display="none"))
        self.region.observe(self.guard("region", lambda _change: self._region_changed()), "value")
        return self.region

    @property
    def painting(self) -> bool:
        """Whether the region toggle is on the painted region."""
        return self.region is not None and self.region.value == PAINTED

    def set_region(self, region: str) -> None:
        """``"parts"`` or ``"painted region"``."""
        self.region.value = check_choice("region", region, (PARTS, PAINTED))

    def painted_mask(self) -> np.ndarray | None:
        """The painted mask (image-sized, in [0, 1]) when the region is the painted one, else None.

        Raises ``InvalidInputError`` when the painted region is chosen but nothing is painted.
        """
        if not self.painting:
            return None
        mask = self.roi.mask
        if not mask.any():
            raise InvalidInputError(
                "the painted region is empty: paint over the image with the mouse, or switch the region to parts")
        return mask

    def _part_controls(self) -> list[widgets.Widget]:
        """The controls that pick parts, disabled while the painted region is the edit's region."""
        return []

    def _region_changed(self) -> None:
        for control in self._part_controls():
            control.disabled = self.painting
        self._roi_box.layout.display = "" if self.painting else "none"
        self.render()


class BackgroundJob:
    """Work a button starts, run in a thread so the notebook stays responsive, with a progress bar.

    While it runs the button is disabled; the bar ends green ("success") or red ("danger"),
    and an error lands in ``log_area`` as ``"<what>: <message>"``.

    Parameters
    ----------
    what : str
        The job's name in messages ("batch", "fit").
    button : ipywidgets.Button
    progress : ipywidgets.IntProgress
        ``work`` advances its value up to the ``total`` given to :meth:`start`.
    log_area : LogArea

    Attributes
    ----------
    thread : threading.Thread or None
        The last thread started.
    """

    def __init__(self, what: str, button: widgets.Button, progress: widgets.IntProgress, log_area: LogArea) -> None:
        self.what = what
        self.button = button
        self.progress = progress
        self.log_area = log_area
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, work: Callable[[], None], *, total: int, background: bool = True,
              on_error: Callable[[], None] | None = None) -> threading.Thread | None:
        """Run ``work`` (in a thread with ``background``; returns it, else None).

        ``on_error`` runs before the error is logged, to put back what ``work`` left half done.
        Raises :class:`~panda_viz.exceptions.InvalidStateError` (a ``RuntimeError``) while the
        previous run is still going.
        """
        if self.running:
            raise InvalidStateError(f"a {self.what} is already running; wait for it to finish")
        self.progress.max, self.progress.value, self.progress.bar_style = total, 0, "info"
        self.button.disabled = True

        def run() -> None:
            try:
                work()
                self.progress.bar_style = "success"
            except Exception as exc:  # noqa: BLE001 - reported in the log, the app stays alive
                self.progress.bar_style = "danger"
                if on_error is not None:
                    on_error()
                self.log_area.last_exception = exc
                self.log_area.error(f"{self.what}: {exc}")
            finally:
                self.button.disabled = False

        if not background:
            run()
            return None
        self.thread = threading.Thread(target=run, name=f"panda-viz {self.what}", daemon=True)
        self.thread.start()
        return self.thread
