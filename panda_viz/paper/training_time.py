"""The PandA paper's Table 1 training times, measured: the time each method needs before it can edit.

Table 1 reports the minutes each method needs "to produce the images for the quantitative
comparisons" (Table 2): 0.87 for PandA, 392.97 for LowRankGAN and 177.12 for StyleSpace on
FFHQ-1024 StyleGAN2 (:data:`~panda_viz.paper.table1.PAPER_MINUTES`). Here the same work is
timed side by side, in one run, on the generators the repository has:

- :func:`table2_training_times`: on the embedded DCGAN, exactly the work
  :func:`~panda_viz.paper.evaluation.table2` does before its first edit, with the same
  settings: PandA's fit (once, for every region); SeFa's closed form and GANSpace's PCA
  (once, region-independent); ReSeFa's and LowRankGAN's Jacobians of the selection samples
  (once) and their directions for each region (Robust PCA twice per region for LowRankGAN).
  StyleSpace has no row there: the DCGAN has no style space.
- :func:`stylespace_training_time`: StyleSpace's locally-active channel detection (gradient
  maps of every style channel and the votes, :func:`~panda_viz.baselines.stylespace`) on a
  style-based generator, beside PandA's fit on the same generator; its per-unit cost
  (seconds per image and style channel) feeds :func:`stylespace_estimate`.
- :func:`stylespace_estimate`: what that per-unit cost implies for FFHQ-1024 at the paper's
  N. It is an **extrapolation by counts only** (style channels × images): one forward-mode
  product of a 1024² network costs far more than one of a 32² test network, so it is a
  lower bound, and labelled so.

Timings are wall-clock (``time.perf_counter``) on whatever the machine is doing: they are
what the notebook reports, never a test's assertion.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .._checks import check_float, check_int, check_option_mapping
from ..baselines import (
    ganspace,
    image_jacobians,
    lowrankgan,
    lowrankgan_jacobians,
    resefa,
    sefa,
    stylespace,
)
from ..exceptions import InvalidIndexError, InvalidInputError
from ..generators.styles import style_layers
from .table1 import PAPER_MINUTES

__all__ = [
    "Timing",
    "TrainingTimes",
    "table2_training_times",
    "stylespace_training_time",
    "stylespace_estimate",
    "StyleSpaceEstimate",
    "stylegan2_style_channels",
    "FFHQ_STYLEGAN2",
    "PAPER_STYLESPACE_IMAGES",
]

#: The official FFHQ-1024 StyleGAN2 (config-F) synthesis settings that fix its style space.
FFHQ_STYLEGAN2 = {"img_resolution": 1024, "channel_base": 32768, "channel_max": 512}
#: Images StyleSpace's official run takes gradient maps of (``bash_script/gradient_map.sh``: 250 jobs of 4).
PAPER_STYLESPACE_IMAGES = 1000


@dataclass(frozen=True)
class Timing:
    """The time one method needed before it could edit.

    Attributes
    ----------
    method : str
    generator : str
        ``G.name`` of the generator it ran on.
    seconds : float
        All of it: the region-independent part plus every region's.
    work : str
        What was timed, in words.
    shared_seconds : float
        The part done once for every region (a fit, Jacobians); ``seconds`` for a method
        without a per-region step.
    per_region : dict of str to float
        Seconds of each region's own step (empty for region-independent methods).
    """

    method: str
    generator: str
    seconds: float
    work: str
    shared_seconds: float
    per_region: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainingTimes:
    """Timings measured in one run; ``settings`` says with what."""

    timings: list[Timing]
    settings: dict[str, Any]

    def timing(self, method: str) -> Timing:
        for t in self.timings:
            if t.method == method:
                return t
        raise InvalidIndexError(
            f"TrainingTimes.timing: no timing for method {method!r}; methods: {', '.join(t.method for t in self.timings)}"
        )

    def ratio(self, method: str, *, to: str = "PandA") -> float:
        """``to``'s time over ``method``'s (the paper's 1/400 is PandA / LowRankGAN)."""
        return self.timing(to).seconds / self.timing(method).seconds

    def rows(self) -> list[dict[str, Any]]:
        """One dict per timing: method, generator, seconds, minutes, PandA / it, the paper's minutes, work."""
        panda = next((t for t in self.timings if t.method == "PandA"), None)
        return [
            {"method": t.method, "generator": t.generator, "seconds": t.seconds, "minutes": t.seconds / 60,
             "panda_ratio": None if panda is None or t is panda else panda.seconds / t.seconds,
             "paper_minutes": PAPER_MINUTES.get(t.method), "work": t.work}
            for t in self.timings
        ]


def _clock(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _check_masks(masks: Any, image_hw: tuple[int, int]) -> dict[str, torch.Tensor]:
    if not isinstance(masks, Mapping) or not masks:
        raise InvalidInputError(f"masks must be a non-empty mapping of region name to mask (H, W); got {masks!r:.80}")
    out = {}
    for name, mask in masks.items():
        mask = torch.as_tensor(mask)
        if tuple(mask.shape) != image_hw:
            raise InvalidInputError(f"mask {name!r} must have the image's shape {image_hw}; got {tuple(mask.shape)}")
        out[str(name)] = mask
    return out


def table2_training_times(
    generator: Any,
    masks: Mapping[str, torch.Tensor],
    *,
    layer: str = "main.5",
    n_parts: int = 8,
    fit_samples: int = 1000,
    n_candidates: int = 12,
    ganspace_samples: int = 4000,
    resefa_samples: int = 16,
    lowrankgan_samples: int = 16,
    n_select: int = 32,
    seed: int = 0,
    lowrankgan_options: Mapping[str, Any] | None = None,
) -> TrainingTimes:
    """Time, side by side, the work :func:`~panda_viz.paper.evaluation.table2` does before it edits.

    Same calls, same settings and the same seeds as ``table2`` (its selection latents are
    ``G.sample_latents(n_select, seed=seed + 1)``; ReSeFa and LowRankGAN use the first
    ``resefa_samples`` / ``lowrankgan_samples`` of them, with the binary region mask ≥ 0.5).

    Parameters
    ----------
    generator : Generator
    masks : mapping of str to Tensor (H, W)
        The regions (``table2`` uses :func:`~panda_viz.paper.regions.face_masks`).
    layer, n_parts, fit_samples, n_candidates, ganspace_samples, resefa_samples, lowrankgan_samples, n_select, seed
        As for ``table2``.
    lowrankgan_options : mapping, optional
        Keyword options for :func:`~panda_viz.baselines.lowrankgan` (default none: the
        official Robust PCA settings, as ``table2`` uses them); e.g. a smaller ``max_iter``
        for a quick look, which is then not the official cost.

    Returns
    -------
    TrainingTimes
        Timings of PandA, SeFa, GANSpace, ReSeFa and LowRankGAN, in that order.
    """
    from ..decomposition import fit_generator

    for name, value, low in (("n_parts", n_parts, 1), ("fit_samples", fit_samples, 1), ("n_candidates", n_candidates, 1),
                             ("ganspace_samples", ganspace_samples, 1), ("resefa_samples", resefa_samples, 1),
                             ("lowrankgan_samples", lowrankgan_samples, 1), ("n_select", n_select, 1), ("seed", seed, 0)):
        check_int(f"table2_training_times: {name}", value, low=low)
    options = check_option_mapping("lowrankgan_options", lowrankgan_options)
    G = generator
    G.check_layer(layer)
    masks = _check_masks(masks, tuple(G.image_shape[1:]))
    with torch.no_grad():
        z_sel = G.sample_latents(n_select, seed=seed + 1)
    z_re, z_lr = z_sel[:resefa_samples], z_sel[:lowrankgan_samples]
    regions = list(masks)
    timings = []
    seconds, _ = _clock(lambda: fit_generator(G, layer, n_samples=fit_samples, seed=seed, n_parts=n_parts,
                                              random_state=seed, progress=False))
    timings.append(Timing("PandA", G.name, seconds, f"fit at {layer}: {fit_samples} samples, {n_parts} parts, "
                          "every region at once", seconds))
    seconds, _ = _clock(lambda: sefa(G, k=n_candidates))
    timings.append(Timing("SeFa", G.name, seconds, "closed form (region-independent)", seconds))
    seconds, _ = _clock(lambda: ganspace(G, n_samples=ganspace_samples, seed=seed, progress=False))
    timings.append(Timing("GANSpace", G.name, seconds, f"PCA of {ganspace_samples} samples + regression "
                          "(region-independent)", seconds))
    for method, z, jacobian, directions in (
        ("ReSeFa", z_re, lambda z: image_jacobians(G, z, progress=False),
         lambda z, m, J: resefa(G, z, m, k=n_candidates, jacobians=J)),
        ("LowRankGAN", z_lr, lambda z: lowrankgan_jacobians(G, z, progress=False),
         lambda z, m, J: lowrankgan(G, z, m, jacobians=J, **options)),
    ):
        shared, J = _clock(lambda: jacobian(z))
        per_region = {r: _clock(lambda: directions(z, (masks[r] >= 0.5).to(masks[r].dtype), J))[0] for r in regions}
        what = "generalised eigenvectors" if method == "ReSeFa" else "Robust PCA of M_f and M_b, projection"
        timings.append(Timing(method, G.name, shared + sum(per_region.values()),
                              f"Jacobians of {len(z)} samples, then per region ({len(regions)}): {what}",
                              shared, per_region))
    settings = dict(generator=G.name, layer=layer, n_parts=n_parts, fit_samples=fit_samples, n_candidates=n_candidates,
                    ganspace_samples=ganspace_samples, resefa_samples=len(z_re), lowrankgan_samples=len(z_lr),
                    regions=regions, seed=seed, lowrankgan_options=dict(options), device=str(G.device),
                    threads=torch.get_num_threads())
    return TrainingTimes(timings, settings)


def stylespace_training_time(
    generator: Any,
    masks: Mapping[str, torch.Tensor],
    *,
    n_images: int = 16,
    panda_layer: str | None = None,
    n_parts: int = 8,
    fit_samples: int = 512,
    seed: int = 0,
) -> TrainingTimes:
    """Time StyleSpace's channel detection and PandA's fit side by side on one style-based generator.

    Parameters
    ----------
    generator : Generator
        Style-based (:func:`~panda_viz.generators.styles.is_style_based`), with constant noise.
    masks : mapping of str to Tensor (H, W)
        StyleSpace's regions (the pixels none covers form its ``"rest"``).
    n_images : int
        Images whose gradient maps vote (the official run: :data:`PAPER_STYLESPACE_IMAGES`).
    panda_layer : str, optional
        PandA's layer (default: the generator's middle layer).
    n_parts, fit_samples, seed
        PandA's fit; the seed of both methods' samples.

    Returns
    -------
    TrainingTimes
        Timings of PandA and StyleSpace; ``settings`` holds ``n_images``,
        ``style_channels`` (the non-ToRGB channels scored) and ``seconds_per_unit``
        (StyleSpace's seconds per image and style channel, for :func:`stylespace_estimate`).
    """
    from ..decomposition import fit_generator

    for name, value, low in (("n_images", n_images, 1), ("n_parts", n_parts, 1), ("fit_samples", fit_samples, 1),
                             ("seed", seed, 0)):
        check_int(f"stylespace_training_time: {name}", value, low=low)
    G = generator
    channels = sum(style_layers(G).values())  # refuses a generator without a style space, naming it
    masks = _check_masks(masks, tuple(G.image_shape[1:]))
    layer = list(G.layers)[len(G.layers) // 2] if panda_layer is None else panda_layer
    G.check_layer(layer)
    with torch.no_grad():
        z = G.sample_latents(n_images, seed=seed)
    seconds, _ = _clock(lambda: fit_generator(G, layer, n_samples=fit_samples, seed=seed, n_parts=n_parts,
                                              random_state=seed, progress=False))
    panda = Timing("PandA", G.name, seconds, f"fit at {layer}: {fit_samples} samples, {n_parts} parts", seconds)
    seconds, _ = _clock(lambda: stylespace(G, z, masks, progress=False))
    style = Timing("StyleSpace", G.name, seconds, f"gradient maps of {channels} style channels × {n_images} images, "
                   f"votes for {len(masks)} regions + rest", seconds)
    settings = dict(generator=G.name, panda_layer=layer, n_parts=n_parts, fit_samples=fit_samples, n_images=n_images,
                    style_channels=channels, seconds_per_unit=seconds / (channels * n_images), seed=seed,
                    device=str(G.device), threads=torch.get_num_threads())
    return TrainingTimes([panda, style], settings)


def stylegan2_style_channels(img_resolution: int, channel_base: int, channel_max: int) -> int:
    """The non-ToRGB style channels of an NVlabs StyleGAN2 synthesis network (what StyleSpace scores).

    Block ``b{r}`` has min(channel_base // r, channel_max) channels; its conv0 (absent at 4)
    is styled by the previous block's channels, its conv1 by its own (NVlabs
    ``networks_stylegan2.py``). FFHQ-1024 (:data:`FFHQ_STYLEGAN2`): 6,048.
    """
    for name, value in (("img_resolution", img_resolution), ("channel_base", channel_base),
                        ("channel_max", channel_max)):
        check_int(name, value, low=1)
    log2 = math.log2(img_resolution)
    if log2 != int(log2) or img_resolution < 4:
        raise InvalidInputError(f"img_resolution must be a power of two ≥ 4; got {img_resolution}")
    width = {r: min(channel_base // r, channel_max) for r in (2 ** i for i in range(2, int(log2) + 1))}
    return sum(width[r] + (width[r // 2] if r > 4 else 0) for r in width)


@dataclass(frozen=True)
class StyleSpaceEstimate:
    """StyleSpace's training time extrapolated to a larger generator by counts only.

    ``minutes`` = ``seconds_per_unit`` × ``style_channels`` × ``n_images`` / 60: a lower
    bound (each unit of a larger network costs more; ``label`` says so).
    """

    minutes: float
    seconds_per_unit: float
    style_channels: int
    n_images: int
    label: str


def stylespace_estimate(seconds_per_unit: float, *, style_channels: int | None = None,
                        n_images: int = PAPER_STYLESPACE_IMAGES, measured_on: str = "the test generator") -> StyleSpaceEstimate:
    """StyleSpace's minutes for FFHQ-1024 at the paper's N, from a measured per-unit cost (a lower bound).

    Parameters
    ----------
    seconds_per_unit : float
        Seconds per image and style channel (:func:`stylespace_training_time`'s
        ``settings["seconds_per_unit"]``).
    style_channels : int, optional
        Default FFHQ-1024 StyleGAN2's 6,048 (:func:`stylegan2_style_channels` of :data:`FFHQ_STYLEGAN2`).
    n_images : int
        Default the official run's 1,000 (:data:`PAPER_STYLESPACE_IMAGES`).
    measured_on : str
        Where the unit was measured, for the label.
    """
    seconds_per_unit = check_float("seconds_per_unit", seconds_per_unit)
    if style_channels is None:
        style_channels = stylegan2_style_channels(**FFHQ_STYLEGAN2)
    check_int("style_channels", style_channels, low=1)
    check_int("n_images", n_images, low=1)
    minutes = seconds_per_unit * style_channels * n_images / 60
    label = (f"estimate, not a measurement: {seconds_per_unit * 1e3:.3g} ms per image and style channel on "
             f"{measured_on} × {style_channels:,} channels × {n_images:,} images; a lower bound, since one "
             "forward-mode product of a 1024² generator costs far more than one of the test generator")
    return StyleSpaceEstimate(minutes, seconds_per_unit, style_channels, n_images, label)
