"""Context-aware removal: a part or a painted region filled with the background appearance."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from .. import editing, render
from ._common import (
    DEFAULT_SCALE, ImagePane, LogArea, Samples, check_index, check_model, check_seed, row_layout,
)
from .roi import RoiPainter

__all__ = ["RemovalPanel"]

PARTS, PAINTED = "parts", "painted region"


class RemovalPanel(widgets.VBox):
    """Remove what is in a part (or a painted region) with the "background" appearance.

    The removal itself is :func:`panda_viz.editing.remove` (paper, Sec. 4.1.1 and Fig. 3);
    the background appearance defaults to
    :func:`panda_viz.editing.propose_background_appearance` on ``n_background_samples``
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
    original, target, removed : ImagePane
    """

    def __init__(self, generator: Any, model: Any, *, seed: int = 0, part: int | None = None, roi: RoiPainter | None = None,
                 n_background_samples: int = 64, samples: Samples | None = None, scale: int = DEFAULT_SCALE) -> None:
        self.generator = generator
        self.samples = samples or Samples(generator)
        self.n_background_samples = int(n_background_samples)
        self.model: Any = None
        self.layer: str | None = None
        self._busy = False
        self.log_area = LogArea()
        guard = self.log_area.guarded
        self.roi = roi or RoiPainter(self.samples.image(check_seed(seed)), scale=scale)
        self.roi.on_change(guard("painted region", lambda _m: self.render() if self.region.value == PAINTED else None))
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                           continuous_update=False, layout=widgets.Layout(width="160px"))
        self.background = widgets.Dropdown(description="background", options=[("0", 0)], value=0,
                                           layout=widgets.Layout(width="220px"))
        self.region = widgets.ToggleButtons(options=[PARTS, PAINTED], value=PARTS, description="remove",
                                            style={"button_width": "120px", "description_width": "initial"})
        self.part = widgets.Dropdown(description="part", options=[("part 0", 0)], value=0,
                                     layout=widgets.Layout(width="150px"), style={"description_width": "32px"})
        self.method = widgets.ToggleButtons(options=["add", "replace"], value="add",
                                            tooltips=["the paper: add α a_b over the region",
                                                      "blend the region towards the image's own background"],
                                            style={"button_width": "70px"})
        self.original = ImagePane("original", scale=scale, css_class="panda-removal-original")
        self.target = ImagePane("region", scale=scale, css_class="panda-removal-region")
        self.removed = ImagePane("removed", scale=scale, css_class="panda-removed")
        for control, what in ((self.seed, "sample"), (self.background, "background"), (self.part, "part"),
                              (self.method, "method")):
            control.observe(guard(what, lambda ch: self.render()), "value")
        self.seed.observe(guard("sample", lambda ch: self.roi.set_image(self.samples.image(self.seed.value))), "value")
        self.region.observe(guard("region", lambda ch: self._region_changed()), "value")
        self._roi_box = widgets.VBox([self.roi], layout=widgets.Layout(display="none"))
        super().__init__([
            widgets.HBox([self.seed, self.background, self.method]),
            widgets.HBox([self.region, self.part]),
            widgets.HBox([self.original, self.target, self.removed, self._roi_box], layout=row_layout()),
            self.log_area,
        ])
        with self.log_area.guard("model"):
            self.set_model(model, part=part)

    # ---------------------------------------------------------------- setters
    def set_model(self, model: Any, *, part: int | None = None) -> None:
        """Use another fitted model; proposes its background appearance.

        ``part`` defaults to the part strongest at the centre of the layer (usually on the object).
        """
        layer = check_model(self.generator, model)
        n_parts, n_app = int(model.parts_.shape[0]), int(model.appearances_.shape[1])
        if part is None:
            H, W = model.parts_.shape[1:]
            part = int(editing.part_masks(model)[:, H // 2, W // 2].argmax())
        part = check_index(part, n_parts, "part")
        z = self.generator.sample_latents(self.n_background_samples, seed=0)
        proposed = editing.propose_background_appearance(model, self.generator.features(z, layer))
        self.model, self.layer = model, layer
        self._busy = True
        try:
            self.background.options = [(f"{k} (proposed)" if k == proposed else str(k), k) for k in range(n_app)]
            self.background.value = proposed
            self.part.options = [(f"part {k}", k) for k in range(n_parts)]
            self.part.value = part
        finally:
            self._busy = False
        self.render()

    def set_seed(self, seed: int) -> None:
        self.seed.value = check_seed(seed)

    def refresh(self) -> None:
        """Show the current sample again, as after a new seed (the Explorer's source changed)."""
        self.roi.set_image(self.samples.image(self.seed.value))
        self.render()

    def set_part(self, part: int) -> None:
        self.part.value = check_index(part, len(self.part.options), "part")

    def set_background(self, appearance: int) -> None:
        self.background.value = check_index(appearance, len(self.background.options), "appearance")

    def set_region(self, region: str) -> None:
        if region not in (PARTS, PAINTED):
            raise ValueError(f"region must be {PARTS!r} or {PAINTED!r}; got {region!r}")
        self.region.value = region

    def _region_changed(self) -> None:
        painted = self.region.value == PAINTED
        self.part.disabled = painted
        self._roi_box.layout.display = "" if painted else "none"
        self.render()

    # ----------------------------------------------------------------- render
    def _region(self) -> int | np.ndarray:
        if self.region.value == PARTS:
            return self.part.value
        mask = self.roi.mask
        if not mask.any():
            raise ValueError("the painted region is empty: paint over the image with the mouse, or remove a part")
        return mask

    def composite(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(original, the region shown over it, the removal) uint8 images."""
        original = self.samples.image(self.seed.value)
        region = self._region()
        if isinstance(region, np.ndarray):
            shown = render.overlay_heatmap(original, region, opacity=0.5, cmap="Reds")
        else:
            n = int(self.model.parts_.shape[0])
            visible = [k == region for k in range(n)]
            shown = render.overlay_parts(original, self.model.parts_, opacity=0.7, visible=visible)
        images = editing.remove(self.generator, self.samples.latents(self.seed.value), self.model, region,
                                self.background.value, method=self.method.value, layer=self.layer)
        return original, shown, render.to_uint8(images)[0]

    def render(self) -> None:
        if self._busy or self.model is None:
            return
        original, shown, removed = self.composite()
        self.original.show(original)
        self.target.show(shown)
        self.removed.show(removed)
        self.log_area.clear_errors()
