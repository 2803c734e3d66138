"""The saliency map of one appearance over a sample, thresholded at μ_k (paper, Sec. 4.1.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from ..decomposition.fitted import check_compatible
from ..editing import saliency
from ..imaging import render
from ._common import DEFAULT_SCALE, Samples, check_index, set_slider
from .live import LiveRule
from .panel import Panel

__all__ = ["SaliencyView"]


class SaliencyView(Panel):
    """Saliency a_kᵀ Z_i of appearance k, its binary mask [m ≥ threshold] and the masked image.

    Parameters
    ----------
    generator : Generator
    model : fitted PandA model
    appearance : int
        Which column k of the appearance basis A.
    seed : int
        Which sample.
    n_threshold_samples : int
        The default threshold is μ_k, the mean of the concept over this many samples
        (seeds 0…N-1 of one draw), computed once per model.
    samples : Samples, optional
        A shared sample cache.

    Attributes
    ----------
    appearance : ipywidgets.Dropdown
    threshold : ipywidgets.FloatSlider
        Live while one render is fast (:attr:`live`); its range covers the current map, from
        below its minimum to above its maximum.
    live : LiveRule
        Switches the threshold to update-on-release when a render is slow.
    mode : ipywidgets.ToggleButtons
        "remove" fills the concept's pixels with white (background removal with the
        background concept), "keep" keeps only them.
    reset : ipywidgets.Button
        Back to μ_k.
    heat, mask_view, masked : ImagePane
        The mask (the concept's pixels in blue on white) and the masked image are framed
        (:func:`panda_viz.imaging.render.framed`), so their extent shows on a white page.
    mask : ndarray (H, W) bool
        The current image-sized mask.
    """

    def __init__(self, generator: Any, model: Any, *, appearance: int = 0, seed: int = 0,
                 n_threshold_samples: int = 64, samples: Samples | None = None, scale: int = DEFAULT_SCALE) -> None:
        super().__init__(generator, seed=seed, samples=samples, scale=scale)
        self.n_threshold_samples = int(n_threshold_samples)
        self.model: Any = None
        self.layer: str | None = None
        self.mu: torch.Tensor | None = None
        self.mask = np.zeros((1, 1), bool)
        self._map: torch.Tensor | None = None
        self.appearance = widgets.Dropdown(description="appearance", options=[("0", 0)], value=0,
                                           style={"description_width": "initial"})
        self.threshold = widgets.FloatSlider(description="threshold μ_k", continuous_update=True, step=1e-3,
                                             readout_format=".3f", style={"description_width": "initial"},
                                             layout=widgets.Layout(width="420px"))
        self.threshold.add_class("panda-threshold")
        self.live = LiveRule([self.threshold])
        self.mode = widgets.ToggleButtons(options=["remove", "keep"], value="remove",
                                          tooltips=["fill the concept's pixels with white", "keep only the concept"],
                                          style={"button_width": "70px"})
        self.reset = widgets.Button(description="μ_k", tooltip="back to the mean of the concept over samples",
                                    layout=widgets.Layout(width="60px"))
        self.heat = self.pane("saliency", "panda-saliency")
        self.mask_view = self.pane("mask", "panda-saliency-mask")
        self.masked = self.pane("masked", "panda-saliency-masked")
        self.panes = (self.heat, self.mask_view, self.masked)
        self.appearance.observe(self.guard("appearance", lambda ch: self._new_map()), "value")
        self.threshold.observe(self.guard("threshold", self.live.timed(lambda ch: self.render())), "value")
        self.mode.observe(self.guard("mode", lambda ch: self.render()), "value")
        self.reset.on_click(self.guard("threshold", lambda _b: self.reset_threshold()))
        self.set_body(widgets.HBox([self.seed, self.appearance]),
                      widgets.HBox([self.threshold, self.reset, self.mode], layout=widgets.Layout(flex_flow="row wrap")),
                      self.image_row())
        with self.log_area.guard("model"):
            self.set_model(model, appearance=appearance)

    # ---------------------------------------------------------------- setters
    def set_model(self, model: Any, *, appearance: int = 0) -> None:
        """Use another fitted model; computes its thresholds μ (one pass over N samples)."""
        layer = check_compatible(self.generator, model)
        n = int(model.appearances_.shape[1])
        appearance = check_index(appearance, n, "appearance")
        z = self.generator.sample_latents(self.n_threshold_samples, seed=0)
        mu = saliency.saliency_thresholds(model, self.generator.iter_features(z, layer, batch_size=64))
        self.model, self.layer, self.mu = model, layer, mu
        with self.render_held():
            self.appearance.options = [(str(k), k) for k in range(n)]
            self.appearance.value = appearance
        self._new_map()

    def set_appearance(self, k: int) -> None:
        n = len(self.appearance.options)
        self.appearance.value = check_index(k, n, "appearance")

    def set_threshold(self, value: float) -> None:
        """Move the threshold (the slider's range grows to include ``value``)."""
        set_slider(self.threshold, value)

    def reset_threshold(self) -> None:
        self.set_threshold(float(self.mu[self.appearance.value]))

    # ----------------------------------------------------------------- render
    def ready(self) -> bool:
        return self.model is not None and self._map is not None

    def _seed_changed(self) -> None:
        self._new_map()

    def _new_map(self) -> None:
        """A new sample or appearance: recompute the map, reset the threshold to μ_k."""
        if self._busy or self.model is None:
            return
        k = self.appearance.value
        Z = self.samples.features(self.seed.value, self.layer)
        self._map = saliency.saliency_maps(self.model, Z, k)[0, 0]
        lo, hi = float(self._map.min()), float(self._map.max())
        mu = float(self.mu[k])
        lo, hi = min(lo, mu), max(hi, mu)
        pad = 0.05 * max(hi - lo, 1e-6)
        with self.render_held():  # one render after the range and value are both set
            self.threshold.min, self.threshold.max = -1e30, 1e30
            self.threshold.min, self.threshold.max = lo - pad, hi + pad
            self.threshold.step = (hi - lo + 2 * pad) / 500
            self.threshold.value = mu
        self.live.timed(self.render)()

    def composite(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(heat map over the sample, binary mask, masked sample), uint8: (H, W, 3), then the
        framed mask and masked sample, (H + 4, W + 4, 3) each."""
        image = self.samples.image(self.seed.value)
        Z = self.samples.features(self.seed.value, self.layer)
        k = self.appearance.value
        mask = saliency.localize(self.model, Z, k, thresholds=self.threshold.value, size=image.shape[:2])[0, 0]
        self.mask = mask.numpy()
        heat = render.overlay_heatmap(image, self._map, opacity=0.6)
        keep = ~self.mask if self.mode.value == "remove" else self.mask
        masked = render.apply_mask(image, keep.astype(np.float32))
        return heat, render.framed(render.mask_image(self.mask)), render.framed(masked)

    def _rendered(self, images: Sequence[np.ndarray]) -> None:
        k = self.appearance.value
        self.mask_view.set_title(f"mask ≥ {self.threshold.value:.3f} ({self.mask.mean():.0%})")
        self.heat.set_title(f"saliency of appearance {k} (μ_k = {float(self.mu[k]):.3f})")
