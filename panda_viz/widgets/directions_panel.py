"""The baselines (SeFa, GANSpace, LowRankGAN, ReSeFa; StyleSpace on style-based generators) beside PandA's edits.

One α slider moves the sample's latent along a direction of the chosen method
(:func:`panda_viz.baselines.apply_direction`, the same function the notebooks and the
evaluation use) or, for StyleSpace, one style channel by α·σ_c
(:func:`panda_viz.baselines.edit_styles`); the view shows original / edited / difference
and, when a region is painted, the edit's ROIR for it, so a baseline's locality reads on
the same scale as a PandA edit's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .._checks import check_choice, check_int
from ..baselines import (
    Directions,
    apply_direction,
    edit_styles,
    ganspace,
    lowrankgan,
    resefa,
    sefa,
    stylespace,
)
from ..exceptions import InvalidInputError
from ..generators import Inversion
from ..generators.styles import is_style_based
from ..imaging import render
from ..metrics import roir
from ._common import DEFAULT_SCALE, Samples, set_slider
from .panel import Panel
from .roi import RoiPainter

__all__ = ["DirectionsPanel", "METHODS"]

METHODS = ("SeFa", "GANSpace", "LowRankGAN", "ReSeFa", "StyleSpace")
#: Methods that need a painted region.
REGION_METHODS = ("LowRankGAN", "ReSeFa", "StyleSpace")
#: Directions (or StyleSpace channels) offered per method (the best-scored first).
N_DIRECTIONS = 10
#: StyleSpace's name for the painted region (the pixels outside are its "rest").
PAINTED = "painted"
_TOOLTIPS = {
    "SeFa": "closed-form eigenvectors of the first projection",
    "GANSpace": "PCA of early activations (or of w)",
    "LowRankGAN": "low-rank directions for the painted region of this sample (official Robust PCA)",
    "ReSeFa": "directions for the painted region of this sample",
    "StyleSpace": "style channels most active in the painted region (α in units of the channel's σ)",
}


def _first(result: Directions, n: int) -> Directions:
    """The first ``n`` of a method's directions (GANSpace computes its 80 jointly; the panel offers 10)."""
    return Directions(result.directions[:n], result.scores[:n], result.method, result.info)


class DirectionsPanel(Panel):
    """Edit a sample along a latent direction of SeFa, GANSpace, LowRankGAN or ReSeFa, or a StyleSpace channel.

    SeFa's directions are computed once (closed form); GANSpace's once, on first use
    (GANSpace's own, :func:`~panda_viz.baselines.ganspace` defaults with ``ganspace_samples``
    PCA samples and 10,000 regression latents: seconds for the DigiFace DCGAN); ReSeFa's
    (official defaults: the painted pixels are the region, the rest the background) for the
    current sample and the region painted in :attr:`roi` (one Jacobian, recomputed when
    the seed or the painted region changes, on first use after the change). LowRankGAN's
    likewise (official defaults: the painted pixels are the region, the rest the
    background, Robust PCA with the official settings; seconds on the DCGAN). StyleSpace,
    offered on style-based generators only, scores every style channel for the painted
    region against the rest on ``stylespace_samples`` samples (seeds 0, 1, …; the official
    detection with a fixed region, as its face-aligned data have) and offers the best;
    α moves the chosen channel of the current sample by α·σ_c.

    Parameters
    ----------
    generator : Generator
    seed : int
    roi : RoiPainter, optional
        A painter to share with the edit and removal panels (ReSeFa's region, and the
        region the ROIR readout measures).
    ganspace_samples : int
    stylespace_samples : int
        Images whose gradient maps score StyleSpace's channels (σ_c is taken over them too).
    lowrankgan_options : mapping, optional
        Keyword options for :func:`~panda_viz.baselines.lowrankgan` (default: the official ones).
    samples : Samples, optional
    scale : int

    Attributes
    ----------
    method : ipywidgets.ToggleButtons
        "SeFa", "GANSpace", "LowRankGAN", "ReSeFa", and "StyleSpace" on style-based generators.
    direction : ipywidgets.Dropdown
        The direction (best-scored first).
    alpha : ipywidgets.FloatSlider
        The latent step (StyleSpace: the channel's step in units of its σ), applied on
        release (one generator pass).
    original, edited, difference : ImagePane
    readout : ipywidgets.HTML
        The edit's ROIR for the painted region, when one is painted.
    """

    def __init__(self, generator: Any, *, seed: int = 0, roi: RoiPainter | None = None, ganspace_samples: int = 2000,
                 stylespace_samples: int = 8, lowrankgan_options: dict | None = None, samples: Samples | None = None,
                 scale: int = DEFAULT_SCALE) -> None:
        super().__init__(generator, seed=seed, samples=samples, scale=scale)
        self.ganspace_samples = int(ganspace_samples)
        self.stylespace_samples = check_int("stylespace_samples", stylespace_samples, low=1)
        self.lowrankgan_options = dict(lowrankgan_options or {})
        self._cache: dict[Any, Any] = {}
        self.use_painter(roi, self._directions_changed)
        self.methods = tuple(m for m in METHODS if m != "StyleSpace" or is_style_based(generator))
        self.method = widgets.ToggleButtons(options=list(self.methods), value="SeFa", style={"button_width": "90px"},
                                            tooltips=[_TOOLTIPS[m] for m in self.methods])
        self.direction = widgets.Dropdown(description="direction", options=[("0", 0)], value=0,
                                          layout=widgets.Layout(width="260px"))
        self.alpha = widgets.FloatSlider(value=0.0, min=-6.0, max=6.0, step=0.1, description="α",
                                         continuous_update=False, readout_format="+.1f",
                                         layout=widgets.Layout(width="330px"), style={"description_width": "20px"})
        self.alpha.add_class("panda-direction-alpha")
        self.original = self.pane("original", "panda-direction-original")
        self.edited = self.pane("edited", "panda-direction-edited")
        self.difference = self.pane("difference", "panda-direction-difference")
        self.panes = (self.original, self.edited, self.difference)
        self.readout = widgets.HTML()
        self.readout.add_class("panda-direction-readout")
        self.method.observe(self.guard("method", lambda ch: self._method_changed()), "value")
        for control, what in ((self.direction, "direction"), (self.alpha, "α")):
            control.observe(self.guard(what, lambda ch: self.render()), "value")
        self.set_body(
            widgets.HTML("Latent directions of the baselines, applied with <code>apply_direction</code>"
                         + (" (StyleSpace: one style channel, α in σ)" if "StyleSpace" in self.methods else "")
                         + "; paint a region (edit tab) for LowRankGAN, ReSeFa"
                         + (", StyleSpace" if "StyleSpace" in self.methods else "") + " and for the ROIR readout."),
            widgets.HBox([self.seed, self.method]),
            widgets.HBox([self.direction, self.alpha]),
            self.image_row(),
            self.readout,
        )
        with self.log_area.guard("directions"):
            self._method_changed()

    # ------------------------------------------------------------- directions
    def directions(self, method: str | None = None):
        """The :class:`~panda_viz.baselines.Directions` of ``method`` (default the selected one), cached.

        StyleSpace gives :class:`~panda_viz.baselines.StyleSpaceChannels` (region :data:`PAINTED`).
        """
        method = self.method.value if method is None else check_choice("method", method, self.methods)
        if method == "SeFa":
            key = ("SeFa",)
            make = lambda: sefa(self.generator, k=N_DIRECTIONS)  # noqa: E731
        elif method == "GANSpace":
            key = ("GANSpace",)
            make = lambda: _first(ganspace(self.generator, n_samples=self.ganspace_samples), N_DIRECTIONS)  # noqa: E731
        else:
            mask = self.roi.mask
            if not mask.any():
                raise InvalidInputError(f"{method} needs a region: paint one over the image (edit tab), then choose {method}")
            region = torch.from_numpy(mask)
            if method == "StyleSpace":  # the painted region is fixed; it scores on a set of samples
                key = ("StyleSpace", mask.tobytes())
                z = self.generator.sample_latents(self.stylespace_samples, seed=0)
                make = lambda: stylespace(self.generator, z, {PAINTED: region}, progress=False)  # noqa: E731
            else:
                key = (method, self.samples.source(self.seed.value), mask.tobytes())
                latents = self.samples.latents(self.seed.value)
                if isinstance(latents, Inversion):  # a photo: the Jacobians at its inverted latents
                    latents = latents.latents
                if method == "ReSeFa":
                    make = lambda: resefa(self.generator, latents, region, k=N_DIRECTIONS)  # noqa: E731
                else:
                    make = lambda: _first(lowrankgan(self.generator, latents, region,  # noqa: E731
                                                     **self.lowrankgan_options), N_DIRECTIONS)
        if key not in self._cache:
            if method in REGION_METHODS:  # one sample and region at a time
                self._cache = {k: v for k, v in self._cache.items() if k[0] != method}
            self._cache[key] = make()
        return self._cache[key]

    def _method_changed(self) -> None:
        result = self.directions()
        if self.method.value == "StyleSpace":
            options = [(f"{layer} channel {c} (score {score:.2f})", j)
                       for j, (layer, c, score) in enumerate(result.top(PAINTED, N_DIRECTIONS, threshold=0.0))]
        else:
            options = [(f"{j} (score {s:.3g})", j) for j, s in enumerate(result.scores.tolist())]
        with self.render_held():
            self.direction.options = options
            self.direction.value = 0
        self.render()

    def _directions_changed(self) -> None:
        """A new sample or painted region: ReSeFa's directions are for them, the others' are not."""
        if self.method.value in REGION_METHODS:
            self._method_changed()
        else:
            self.render()

    def _seed_changed(self) -> None:
        self.roi.set_image(self.samples.image(self.seed.value))
        self._directions_changed()

    # ---------------------------------------------------------------- setters
    def set_method(self, method: str) -> None:
        """Choose a method (StyleSpace only on a style-based generator)."""
        if method == "StyleSpace" and method not in self.methods:
            raise InvalidInputError(
                f"StyleSpace needs a style-based generator (StyleGAN2/3, genforce StyleGAN/StyleGAN2); "
                f"{self.generator.name!r} has no style space"
            )
        self.method.value = check_choice("method", method, self.methods)

    def set_direction(self, j: int) -> None:
        n = len(self.direction.options)
        self.direction.value = check_int(f"direction ({n} directions are offered)", j, low=0, high=n - 1)

    def set_alpha(self, alpha: float) -> None:
        """Set α (the slider's range grows to include it)."""
        set_slider(self.alpha, alpha)

    # ----------------------------------------------------------------- render
    def composite(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(original, edited, difference) uint8 images; α = 0 gives the original exactly."""
        original = self.samples.image(self.seed.value)
        if self.alpha.value == 0:
            return original, original, render.heatmap(np.zeros(original.shape[:2]), vmin=0, vmax=1)
        z = self.samples.latents(self.seed.value)
        if self.method.value == "StyleSpace":
            channels = self.directions()
            layer, c, _ = channels.top(PAINTED, N_DIRECTIONS, threshold=0.0)[self.direction.value]
            images = edit_styles(self.generator, z, [(layer, c, self.alpha.value)], sigma=channels, progress=False)
        else:
            moved = apply_direction(z, self.directions()[self.direction.value], self.alpha.value)
            images = self.generator.synthesize(moved, progress=False)
        edited = render.to_uint8(images)[0]
        return original, edited, render.difference_heatmap(original, edited)

    def _rendered(self, images: Sequence[np.ndarray]) -> None:
        original, edited, _ = images
        self.readout.value = self._roir_text(original, edited)

    def _roir_text(self, original: np.ndarray, edited: np.ndarray) -> str:
        mask = self.roi.mask
        if not mask.any() or self.alpha.value == 0:
            return ""
        x, x_edit = (torch.from_numpy(im).permute(2, 0, 1)[None].float() / 127.5 - 1 for im in (original, edited))
        if not (x_edit - x).abs().mul(torch.from_numpy(mask)).any():
            return "ROIR for the painted region: the edit does not change it"
        value = roir(x, x_edit, torch.from_numpy(mask)).mean
        return f"ROIR for the painted region (change outside / inside, lower is more local): <b>{value:.2f}</b>"
