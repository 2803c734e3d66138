"""Context-aware removal: a part or a painted region filled with the background appearance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np

from .._checks import check_float
from ..decomposition.fitted import check_compatible
from ..editing import removal
from ..imaging import render
from ._common import DEFAULT_SCALE, Samples, central_part, check_index, set_slider
from .live import LiveRule
from .panel import Panel
from .roi import RoiPainter

__all__ = ["DIFFERENCE_GAIN", "RemovalPanel"]

#: The difference pane shows |removed − original| × this gain on a fixed scale (so a weak removal looks weak).
DIFFERENCE_GAIN = 8.0

_CAPTION = (
    "<b>add</b> (the paper) adds the background appearance a<sub>b</sub> to the region's features: it moves one "
    "direction of each feature vector and keeps the rest, so its change is small by construction (on the DCGAN "
    "at strength 1, a mean change of a few levels of 255; the difference pane shows where). <b>strength</b> "
    "multiplies the edit (0 = the original). <b>replace</b> blends the region's features towards the image's "
    "own background (strength 1 replaces them)."
)


class RemovalPanel(Panel):
    """Remove what is in a part (or a painted region) with the "background" appearance.

    The removal itself is :func:`panda_viz.editing.removal.remove_images` (paper, Sec. 4.1.1 and Fig. 3);
    the background appearance defaults to
    :func:`panda_viz.editing.removal.propose_background_appearance` on ``n_background_samples``
    samples, and can be changed.

    Parameters
    ----------
    generator : Generator
    model : fitted PandA model
    seed : int
    part : int, optional
        The part to remove; default the part strongest at the centre of the layer.
    roi : RoiPainter, optional
        A painter to share with the edit panel.
    n_background_samples : int
    samples : Samples, optional

    Attributes
    ----------
    background : ipywidgets.Dropdown
        The background appearance b.
    region : ipywidgets.ToggleButtons
        "parts" or "painted region".
    part : ipywidgets.Dropdown
    method : ipywidgets.ToggleButtons
        "add" (the paper: + α a_b r̂ᵀ) or "replace" (blend towards the image's own background).
    strength : ipywidgets.FloatSlider
        Multiplies the edit (``strength`` of :func:`panda_viz.editing.removal.removal_edit`);
        live while one render is fast (:attr:`live`).
    live : LiveRule
        Switches the strength slider to update-on-release when a render is slow.
    original, target, removed, difference : ImagePane
        ``difference`` is |removed − original| × :data:`DIFFERENCE_GAIN` (magma, fixed scale).
    """

    def __init__(self, generator: Any, model: Any, *, seed: int = 0, part: int | None = None, roi: RoiPainter | None = None,
                 n_background_samples: int = 64, samples: Samples | None = None, scale: int = DEFAULT_SCALE) -> None:
        super().__init__(generator, seed=seed, samples=samples, scale=scale)
        self.n_background_samples = int(n_background_samples)
        self.model: Any = None
        self.layer: str | None = None
        self.use_painter(roi)
        self.background = widgets.Dropdown(description="background", options=[("0", 0)], value=0,
                                           layout=widgets.Layout(width="240px"), style={"description_width": "initial"})
        self.region_toggle("remove")
        self.part = widgets.Dropdown(description="part", options=[("part 0", 0)], value=0,
                                     layout=widgets.Layout(width="150px"), style={"description_width": "initial"})
        self.method = widgets.ToggleButtons(options=["add", "replace"], value="add",
                                            tooltips=["the paper: add α a_b over the region",
                                                      "blend the region towards the image's own background"],
                                            style={"button_width": "70px"})
        self.strength = widgets.FloatSlider(value=1.0, min=0.0, max=4.0, step=0.05, description="strength",
                                            readout_format=".2f", style={"description_width": "initial"},
                                            layout=widgets.Layout(width="320px"))
        self.strength.add_class("panda-removal-strength")
        self.live = LiveRule([self.strength])
        self.caption = widgets.HTML(_CAPTION, layout=widgets.Layout(max_width="1000px"))
        self.original = self.pane("original", "panda-removal-original")
        self.target = self.pane("region", "panda-removal-region")
        self.removed = self.pane("removed", "panda-removed")
        self.difference = self.pane(f"|removed − original| × {DIFFERENCE_GAIN:g}", "panda-removal-difference")
        self.panes = (self.original, self.target, self.removed, self.difference)
        for control, what in ((self.background, "background"), (self.part, "part"), (self.method, "method")):
            control.observe(self.guard(what, lambda ch: self.render()), "value")
        self.strength.observe(self.guard("strength", self.live.timed(lambda ch: self.render())), "value")
        self.set_body(widgets.HBox([self.seed, self.background, self.method], layout=widgets.Layout(flex_flow="row wrap")),
                      widgets.HBox([self.region, self.part, self.strength], layout=widgets.Layout(flex_flow="row wrap")),
                      self.caption, self.image_row())
        with self.log_area.guard("model"):
            self.set_model(model, part=part)

    # ---------------------------------------------------------------- setters
    def set_model(self, model: Any, *, part: int | None = None) -> None:
        """Use another fitted model; proposes its background appearance.

        ``part`` defaults to the part strongest at the centre of the layer (usually on the object).
        """
        layer = check_compatible(self.generator, model)
        n_parts, n_app = int(model.parts_.shape[0]), int(model.appearances_.shape[1])
        part = check_index(central_part(model) if part is None else part, n_parts, "part")
        z = self.generator.sample_latents(self.n_background_samples, seed=0)
        proposed = removal.propose_background_appearance(model, self.generator.features(z, layer))
        self.model, self.layer = model, layer
        with self.render_held():
            self.background.options = [(f"{k} (proposed)" if k == proposed else str(k), k) for k in range(n_app)]
            self.background.value = proposed
            self.part.options = [(f"part {k}", k) for k in range(n_parts)]
            self.part.value = part
        self.live.timed(self.render)()  # the first render says whether the strength can be live

    def set_part(self, part: int) -> None:
        self.part.value = check_index(part, len(self.part.options), "part")

    def set_background(self, appearance: int) -> None:
        self.background.value = check_index(appearance, len(self.background.options), "appearance")

    def set_strength(self, strength: float) -> None:
        """Multiply the removal by ``strength`` ≥ 0 (the slider's range grows to include it)."""
        set_slider(self.strength, check_float("strength", strength, low=0.0, strict=False))

    def _part_controls(self) -> list[widgets.Widget]:
        return [self.part]

    # ----------------------------------------------------------------- render
    def ready(self) -> bool:
        return self.model is not None

    def composite(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(original, the region shown over it, the removal, the amplified difference) uint8 images."""
        original = self.samples.image(self.seed.value)
        mask = self.painted_mask()
        if mask is not None:
            region = mask
            shown = render.overlay_heatmap(original, mask, opacity=0.5, cmap="Reds")
        else:
            region = self.part.value
            n = int(self.model.parts_.shape[0])
            visible = [k == region for k in range(n)]
            shown = render.overlay_parts(original, self.model.parts_, opacity=0.7, visible=visible)
        images = removal.remove_images(self.generator, self.samples.latents(self.seed.value), self.model, region,
                                       self.background.value, strength=self.strength.value, method=self.method.value,
                                       layer=self.layer)
        removed = render.to_uint8(images)[0]
        return original, shown, removed, render.amplified_difference(original, removed, gain=DIFFERENCE_GAIN)

    def _rendered(self, images: Sequence[np.ndarray]) -> None:
        original, removed = images[0].astype(np.int16), images[2].astype(np.int16)
        largest = int(np.abs(removed - original).max())
        self.difference.set_title(f"|removed − original| × {DIFFERENCE_GAIN:g} (largest change {largest}/255)")
