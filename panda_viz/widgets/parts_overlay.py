"""A sample with the learnt parts overlaid, one colour per part."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from .._checks import check_float
from ..decomposition.fitted import check_compatible
from ..imaging import render
from ._common import DEFAULT_SCALE, Samples, check_index, part_label
from .live import LiveRule
from .panel import Panel

__all__ = ["PartsOverlay"]


class PartsOverlay(Panel):
    """The parts P of a fitted model over a sample: each pixel coloured by its strongest part.

    Parameters
    ----------
    generator : Generator
    model : fitted PandA model
        Uses ``parts_`` (R_S, H, W).
    seed : int
        Which sample to show.
    opacity : float
        Overlay opacity in [0, 1] (0 shows the sample unchanged).
    samples : Samples, optional
        A shared sample cache (the Explorer passes one).

    Attributes
    ----------
    seed : ipywidgets.BoundedIntText
        Sample seed; a new seed is one generator pass, applied on Enter / focus loss.
    opacity : ipywidgets.FloatSlider
        Live while one render is fast (compositing only; :attr:`live`).
    live : LiveRule
        Switches the opacity to update-on-release when a render is slow.
    toggles : list of ipywidgets.Checkbox
        One per part, coloured as in the overlay; unticking hides that part.
    original, overlay : ImagePane
    log_area : LogArea
    """

    def __init__(self, generator: Any, model: Any, *, seed: int = 0, opacity: float = 0.6,
                 samples: Samples | None = None, scale: int = DEFAULT_SCALE) -> None:
        super().__init__(generator, seed=seed, samples=samples, scale=scale)
        self.model: Any = None
        self.opacity = widgets.FloatSlider(value=opacity, min=0.0, max=1.0, step=0.05, description="opacity",
                                           continuous_update=True, readout_format=".2f",
                                           style={"description_width": "initial"})
        self.opacity.add_class("panda-opacity")
        self.live = LiveRule([self.opacity])
        self.original = self.pane("sample", "panda-parts-original")
        self.overlay = self.pane("parts", "panda-parts-overlay")
        self.panes = (self.original, self.overlay)
        self.toggles: list[widgets.Checkbox] = []
        self._toggle_box = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.opacity.observe(self.guard("opacity", self.live.timed(lambda ch: self.render())), "value")
        self.set_body(widgets.HBox([self.seed, self.opacity]), self._toggle_box, self.image_row())
        with self.log_area.guard("model"):
            self.set_model(model)

    # ---------------------------------------------------------------- setters
    def set_model(self, model: Any) -> None:
        """Show another fitted model's parts (toggles are rebuilt, all on)."""
        check_compatible(self.generator, model)
        self.model = model
        n = int(model.parts_.shape[0])
        self.toggles = []
        for k in range(n):
            box = widgets.Checkbox(value=True, description=part_label(k, n), description_allow_html=True,
                                   indent=False, layout=widgets.Layout(width="auto", margin="0 8px 0 0"))
            box.observe(self.guard("parts", lambda ch: self.render()), "value")
            self.toggles.append(box)
        self._toggle_box.children = tuple(self.toggles)
        self.live.timed(self.render)()

    def set_opacity(self, opacity: float) -> None:
        self.opacity.value = check_float("opacity", opacity, low=0.0, high=1.0, strict=False)

    def set_visible(self, part: int, visible: bool) -> None:
        """Show or hide part ``part``."""
        self.toggles[check_index(part, len(self.toggles), "part")].value = bool(visible)

    @property
    def visible(self) -> list[bool]:
        return [t.value for t in self.toggles]

    # ----------------------------------------------------------------- render
    def composite(self) -> tuple[np.ndarray, np.ndarray]:
        """(sample, overlay) uint8 images for the current seed, opacity and toggles."""
        image = self.samples.image(self.seed.value)
        if self.model is None:
            return image, image
        overlay = render.overlay_parts(image, self.model.parts_, opacity=self.opacity.value, visible=self.visible)
        return image, overlay
