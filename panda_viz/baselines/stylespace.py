"""StyleSpace (Wu, Lischinski and Shechtman, CVPR 2021): locally-active style channels and their edits.

S is the output of every synthesis layer's affine map (:mod:`panda_viz.generators.styles`).
A channel s_c is *locally active* for a region when moving it changes mostly that region;
StyleSpace finds such channels from gradient maps and a segmentation of the images, then
edits an image by moving one channel: s_c ← s_c + α·σ_c.

**Default: the official locally-active channel detection** (github.com/betterze/StyleSpace):

1. ``invert_mask.py``: the gradient of the image, average-pooled to 32×32, with respect to
   every style channel (ToRGB excluded, no ``-include_trgb``), over N images
   (1,000 in ``bash_script/gradient_map.sh``;
   :func:`~panda_viz.baselines.style_gradients.style_gradients`);
2. ``align_mask.py``: the label maps are reduced to 32×32 by a majority vote in each
   block (``ExpendSMask``, sum over the block, ``argmax``: the lowest label wins a tie);
   per image and channel the map ``mean_RGB |∂x↓/∂s_c|``; for each region of o pixels
   (a share p = o / 32² of the image) the map thresholded above its (1 − p) quantile
   (``np.percentile``, linear interpolation, strict ``>``), n = the pixels in both
   (``OverlapScore``); a region absent from an image is NaN there;
3. ``semantic_channel.py`` (``TopRate``): the score n / o² (``discount_factor = 2``); each
   image votes for the region with the highest score (``np.nanargmax``: the first on
   ties); a channel's score for a region is the share of the images holding that region
   in which it won;
4. channels scoring at least 0.5 for a region (the paper's rule) are its locally-active
   channels, ranked by score (:meth:`StyleSpaceChannels.top`);
5. ``manipulate.py`` (``EditOneC``): an edit moves one channel by α·σ_c, σ_c the channel's
   standard deviation over samples (``np.std``, GetCode's ``s_mean_std``)
   (:func:`edit_styles`).

**What departs, and why**

- *Regions*: the official code segments each image with a face parser (``GetMask.py``:
  BiSeNet, CelebAMask-HQ's 19 classes, merged by ``CFFHQ`` into 10 regions plus label 0
  for the background and the classes it does not use), not installable here.
  :func:`stylespace` takes what a user has: named masks at the image resolution (fixed,
  like :func:`panda_viz.paper.regions.face_masks`, hand-painted, or one per image),
  binarised at ``mask_threshold``, or per-image integer label maps (N, H, W) from any
  segmenter. Pixels that no named mask covers form the region ``"rest"``, label 0, as the
  official label 0 (its label maps cover every pixel, and a channel whose gradient map
  wins no pixel votes for the first region present, label 0).
- *σ*: the official code takes σ over 100,000 samples (ψ = 0.7 on the first 8 layers);
  here over ``latents`` or ``sigma_latents`` (load the generator with that truncation
  for the official sampling).
- *Cost*: the official code spends one reverse pass per output value per image (a GPU
  cluster, a job per four images); the default here takes forward-mode products per
  channel for a batch of images at once (``method="forward"``), the official formulation
  being ``method="reverse"``; both give the same maps.

Examples
--------
>>> from panda_viz.baselines import stylespace, edit_styles
>>> from panda_viz.paper.regions import face_masks
>>> channels = stylespace(G, G.sample_latents(32, seed=0), face_masks(size=G.image_shape[-1]))
>>> channels.top("mouth", 3)                     # [(layer, channel, score), …], best first
>>> layer, c, _ = channels.top("mouth", 1)[0]
>>> images = edit_styles(G, z, [(layer, c, 5.0)], sigma=channels)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .._checks import check_float, check_int, is_real
from ..exceptions import InvalidInputError, InvalidTypeError, NonFiniteError
from ..generators.inverted import Inversion
from ..generators.styles import (
    check_style_layers,
    read_styles,
    style_layers,
    synthesize_styles,
)
from .style_gradients import GRADIENT_METHODS, check_out_size, iter_style_gradients
from .stylespace_scores import (
    count_shares,
    downsample_labels,
    overlap_scores,
    region_labels,
    region_votes,
    vote_counts,
)

__all__ = [
    "StyleSpaceChannels",
    "stylespace",
    "edit_styles",
]


@dataclass(frozen=True)
class StyleSpaceChannels:
    """StyleSpace's channel scores for each region, and the channels' σ for edits.

    Attributes
    ----------
    generator_name : str
        ``G.name`` of the generator (checked by :func:`edit_styles`).
    layers : dict of str to int
        Style layers scored (module names, forward order) → channels.
    regions : tuple of str
        Region names; ``regions[label]``.
    scores : dict of str to Tensor (C, K), float64
        Per style layer, each channel's score for each region: the share of the images
        holding the region in which the channel's gradient map voted for it.
    votes : dict of str to Tensor (C, K), int64
        The vote counts behind ``scores``.
    present : Tensor (K,), int64
        How many images hold each region (at the pooled size).
    sigma, mean : dict of str to Tensor (C,), float64
        Each channel's standard deviation (``np.std``, ddof 0) and mean over the σ samples.
    n_samples : int
        Images that voted.
    info : dict
        ``out_size``, ``discount``, ``method``, ``mask_threshold``, ``n_sigma_samples``.
    """

    generator_name: str
    layers: dict[str, int]
    regions: tuple[str, ...]
    scores: dict[str, torch.Tensor]
    votes: dict[str, torch.Tensor]
    present: torch.Tensor
    sigma: dict[str, torch.Tensor]
    mean: dict[str, torch.Tensor]
    n_samples: int
    info: dict[str, Any] = field(default_factory=dict)

    def region_index(self, region: str) -> int:
        """The label of ``region``; an unknown name raises InvalidInputError listing them."""
        if not isinstance(region, str):
            raise InvalidTypeError(f"a region is named by a string; got {type(region).__name__}")
        if region not in self.regions:
            raise InvalidInputError(f"region {region!r} not found; regions: {', '.join(self.regions)}")
        return self.regions.index(region)

    def region_scores(self, region: str) -> dict[str, torch.Tensor]:
        """Every channel's score for ``region``: style layer → Tensor (C,)."""
        k = self.region_index(region)
        return {layer: table[:, k] for layer, table in self.scores.items()}

    def top(self, region: str, k: int | None = None, *, threshold: float = 0.5) -> list[tuple[str, int, float]]:
        """The locally-active channels of ``region``, best first.

        Parameters
        ----------
        region : str
            One of :attr:`regions`.
        k : int, optional
            At most this many (default all that pass ``threshold``).
        threshold : float
            The lowest score kept: the paper's 0.5 by default (0 ranks every channel).

        Returns
        -------
        list of (layer, channel, score)
            Sorted by decreasing score, then forward order of the layers, then channel;
            ready for :func:`edit_styles` as ``[(layer, channel, alpha) …]``.
        """
        index = self.region_index(region)
        check_int("k", k, low=1, allow_none=True)
        threshold = check_float("threshold (the paper's 0.5)", threshold, low=0.0, high=1.0, strict=False)
        found = []
        for order, (layer, table) in enumerate(self.scores.items()):
            column = table[:, index]
            for channel in torch.nonzero(column >= threshold).flatten().tolist():
                found.append((-float(column[channel]), order, channel, layer))
        found.sort()
        return [(layer, channel, -negative) for negative, _, channel, layer in found[:k]]

    def __repr__(self) -> str:
        active = {r: len(self.top(r)) for r in self.regions}
        return (
            f"StyleSpaceChannels(generator={self.generator_name!r}, layers={len(self.layers)}, "
            f"channels={sum(self.layers.values())}, n_samples={self.n_samples}, locally_active={active})"
        )


# --------------------------------------------------------------------------- the method
def _positive_int_or_none(value: Any, name: str) -> None:
    check_int(name, value, low=1, allow_none=True)


def _check_deterministic(generator, latents: torch.Tensor) -> None:
    with torch.no_grad():
        first = generator.synthesize(latents[:1], batch_size=1, progress=False)
        second = generator.synthesize(latents[:1], batch_size=1, progress=False)
    if not torch.equal(first, second):
        raise InvalidInputError(
            f"generator {generator.name!r} gives different images for the same latent (random noise inputs?): "
            "gradient maps need a fixed image per latent, as the official code's constant noise; load it with "
            "noise_mode='const' (NVlabs) or randomize_noise=False (genforce)"
        )


def _check_gradients(gradients: Mapping[str, torch.Tensor], chosen: dict[str, int], n: int, hw, out_size) -> int:
    """The pooled size of precomputed maps, after checking their shapes and values."""
    sizes = set()
    for layer, maps in gradients.items():
        if not isinstance(maps, torch.Tensor) or maps.ndim != 5 or maps.shape[:2] != (n, chosen[layer]) \
                or maps.shape[-1] != maps.shape[-2]:
            got = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
            raise InvalidInputError(
                f"gradients of {layer!r} must have shape ({n}, {chosen[layer]}, 3, out, out) (style_gradients of the "
                f"latents); got {got}"
            )
        if not bool(torch.isfinite(maps).all()):
            raise NonFiniteError(f"gradients of {layer!r} hold NaN or infinite values")
        sizes.add(int(maps.shape[-1]))
    if len(sizes) != 1 or (out_size is not None and sizes != {out_size}):
        raise InvalidInputError(f"the gradient maps have sizes {sorted(sizes)}; expected one size{'' if out_size is None else f' ({out_size})'}")
    return sizes.pop()


def stylespace(
    generator,
    latents: torch.Tensor,
    regions: Any,
    *,
    region_names: Sequence[str] | None = None,
    mask_threshold: float = 0.5,
    layers=None,
    include_torgb: bool = False,
    out_size: int | None = None,
    discount: float = 2.0,
    method: str = "forward",
    gradients: Mapping[str, torch.Tensor] | None = None,
    sigma_latents: torch.Tensor | None = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
) -> StyleSpaceChannels:
    """StyleSpace's locally-active channel detection (the official pipeline; module docstring).

    Parameters
    ----------
    generator : Generator
        Style-based: NVlabs StyleGAN2 / StyleGAN3, genforce StyleGAN / StyleGAN2, with a
        fixed image per latent (constant noise).
    latents : Tensor (N, *latent_shape)
        The images that vote (the official code uses a few hundred to a thousand).
    regions : mapping of str to mask, or label maps
        Named masks at the image resolution, (H, W) or (N, H, W) in [0, 1], or integer
        label maps (N, H, W); see :func:`region_labels`. Named masks get a region
        :data:`REST` (label 0) for the pixels none covers.
    region_names : sequence of str, optional
        Names of the label values of label maps.
    mask_threshold : float
        Named masks are binarised at this value (0.5).
    layers : str or list of str, optional
        Style layers to score (default every non-ToRGB one, as official).
    include_torgb : bool
        With ``layers=None``, also score the ToRGB layers (official ``-include_trgb``).
    out_size : int, optional
        The pooled size of the gradient maps and label maps (official 32, the default);
        must divide the image size. With ``gradients``, theirs.
    discount : float
        The official ``discount_factor``: scores n / o^discount (2).
    method : {"forward", "reverse"}
        How the gradient maps are computed (:func:`~panda_viz.baselines.style_gradients.style_gradients`):
        forward-mode products per channel (default) or one reverse pass per output value
        (the official formulation). The same maps up to rounding.
    gradients : mapping of str to Tensor (N, C, 3, out, out), optional
        Precomputed :func:`~panda_viz.baselines.style_gradients.style_gradients` of
        ``latents`` (all channels of each layer), to score several sets of regions
        without differentiating again (the official pipeline stores them too); their
        layers are the ones scored.
    sigma_latents : Tensor (M, *latent_shape), optional
        Samples for σ (default ``latents``; the official code uses 100,000).
    batch_size, chunk_size, progress
        Images per pass, channels per forward-mode product, progress bar.

    Returns
    -------
    StyleSpaceChannels

    Raises
    ------
    InvalidTypeError
        A generator without a style space (named), regions of the wrong kind.
    InvalidInputError
        Masks or label maps of the wrong size or values, a region covering no pixel, an
        unknown layer, an option out of range, a generator whose images are not fixed by
        the latents.
    NonFiniteError
        NaN or infinite latents.
    """
    if not isinstance(include_torgb, bool):
        raise InvalidTypeError(f"include_torgb must be a bool; got {type(include_torgb).__name__}")
    if gradients is not None and layers is not None:
        raise InvalidInputError("pass layers= or gradients= (whose layers are scored), not both")
    if gradients is not None and not isinstance(gradients, Mapping):
        raise InvalidTypeError(f"gradients must map style layers to maps (N, C, 3, out, out); got {type(gradients).__name__}")
    if gradients is not None:
        chosen = check_style_layers(generator, list(gradients))
    elif layers is None:
        chosen = style_layers(generator, include_torgb=include_torgb)
    else:
        chosen = check_style_layers(generator, layers)
    if isinstance(latents, Inversion):
        raise InvalidTypeError("stylespace takes generated samples' latents (N, *latent_shape), not an Inversion")
    latents = generator.check_latents(latents)
    hw = tuple(generator.image_shape[1:])
    if gradients is not None:
        out_size = _check_gradients(gradients, chosen, len(latents), hw, out_size)
    out_size = check_out_size(32 if out_size is None else out_size, hw)
    discount = check_float("discount (official discount_factor 2)", discount)
    if method not in GRADIENT_METHODS:
        raise InvalidInputError(f"Invalid method: got {method!r} instead of one of {set(GRADIENT_METHODS)}")
    _positive_int_or_none(batch_size, "batch_size")
    _positive_int_or_none(chunk_size, "chunk_size")
    if sigma_latents is not None:
        if isinstance(sigma_latents, Inversion):
            raise InvalidTypeError("sigma_latents must be latents (M, *latent_shape), not an Inversion")
        sigma_latents = generator.check_latents(sigma_latents)
    labels, names = region_labels(regions, len(latents), hw, region_names=region_names, mask_threshold=mask_threshold)
    k = len(names)
    small = downsample_labels(labels, out_size, k).to(generator.device)
    if gradients is None:
        _check_deterministic(generator, latents)

    styles = read_styles(generator, latents if sigma_latents is None else sigma_latents, layers=list(chosen), batch_size=batch_size)
    sigma = {layer: s.to(torch.float64).std(dim=0, unbiased=False) for layer, s in styles.items()}
    mean = {layer: s.to(torch.float64).mean(dim=0) for layer, s in styles.items()}
    del styles

    counts = {layer: torch.zeros(c, k, dtype=torch.int64, device=generator.device) for layer, c in chosen.items()}
    present = torch.zeros(k, dtype=torch.int64, device=generator.device)
    if gradients is None:
        batches = iter_style_gradients(
            generator, latents, layers=list(chosen), out_size=out_size, method=method, batch_size=batch_size,
            chunk_size=chunk_size, progress=progress,
        )
    else:
        batches = [(slice(0, len(latents)), {layer: g.to(generator.device) for layer, g in gradients.items()})]
    for part, maps in batches:
        held = None
        for layer, grads in maps.items():
            n, o = overlap_scores(grads.abs().mean(dim=2), small[part], k)
            counts[layer] += vote_counts(region_votes(n, o, discount=discount), k).to(counts[layer].device)
            held = ~torch.isnan(o)  # the same for every layer
        present += held.sum(dim=0).to(present.device)
    shares = {layer: count_shares(c, present) for layer, c in counts.items()}
    return StyleSpaceChannels(
        generator_name=generator.name,
        layers=dict(chosen),
        regions=names,
        scores={layer: v.cpu() for layer, v in shares.items()},
        votes={layer: v.cpu() for layer, v in counts.items()},
        present=present.cpu(),
        sigma={layer: v.cpu() for layer, v in sigma.items()},
        mean={layer: v.cpu() for layer, v in mean.items()},
        n_samples=len(latents),
        info={"out_size": out_size, "discount": float(discount), "method": "given" if gradients is not None else method,
              "mask_threshold": mask_threshold,
              "n_sigma_samples": len(latents) if sigma_latents is None else len(sigma_latents)},
    )


# --------------------------------------------------------------------------- edits
def _sigma_table(generator, sigma) -> dict[str, torch.Tensor] | None:
    if sigma is None:
        return None
    if isinstance(sigma, StyleSpaceChannels):
        if sigma.generator_name != generator.name:
            raise InvalidInputError(
                f"the channels were found on generator {sigma.generator_name!r}; got generator {generator.name!r}"
            )
        return sigma.sigma
    if isinstance(sigma, Mapping):
        return dict(sigma)
    raise InvalidTypeError(
        f"sigma must be StyleSpaceChannels, a mapping of style layer to σ (C,), or None (α in style units); "
        f"got {type(sigma).__name__}"
    )


def edit_styles(
    generator,
    latents,
    edits: Sequence[tuple[str, int, float | torch.Tensor]],
    *,
    sigma,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> torch.Tensor:
    """Images with single style channels moved: s_c ← s_c + α·σ_c (official ``EditOneC``).

    Parameters
    ----------
    generator : Generator
        Style-based.
    latents : Tensor (N, *latent_shape) or Inversion
        An inversion of photos keeps its details (see
        :func:`panda_viz.generators.styles.synthesize_styles`); α = 0 reproduces
        ``G.synthesize(latents)`` exactly.
    edits : sequence of (layer, channel, alpha)
        Style layer (a module name, as :meth:`StyleSpaceChannels.top` gives it), channel,
        and strength α: a number, or a Tensor (N,) with one per sample. Several edits add up.
    sigma : StyleSpaceChannels, mapping of str to Tensor (C,), or None
        The channels' σ: α is in units of σ_c (the official edit); None moves s_c by α
        itself. Required, so that no edit is in the wrong units by accident.
    batch_size, progress
        As in :meth:`Generator.synthesize`.

    Returns
    -------
    Tensor (N, 3, H, W)

    Raises
    ------
    InvalidTypeError, InvalidInputError, NonFiniteError
        A generator without a style space, an unknown layer, a channel out of range, a
        non-finite α, σ of another generator or without the layer.
    """
    latents = generator.check_latents(latents)
    n = len(latents)
    table = _sigma_table(generator, sigma)
    if isinstance(edits, (str, bytes)) or not isinstance(edits, Sequence):
        raise InvalidTypeError(f"edits must be a list of (layer, channel, alpha); got {type(edits).__name__}")
    known = style_layers(generator, include_torgb=True)
    deltas: dict[str, torch.Tensor] = {}
    for entry in edits:
        if not isinstance(entry, (tuple, list)) or len(entry) != 3:
            raise InvalidInputError(f"each edit is (layer, channel, alpha); got {entry!r}")
        layer, channel, alpha = entry
        c = check_style_layers(generator, layer)[layer]
        channel = check_int(f"channel of style layer {layer!r}", channel, low=0, high=c - 1)
        if isinstance(alpha, torch.Tensor):
            alpha = alpha.detach().to(torch.float64).flatten()
            if alpha.numel() == 1:
                alpha = alpha.expand(n)
            if alpha.shape != (n,):
                raise InvalidInputError(f"alpha must be a number or a tensor of shape ({n},); got {tuple(alpha.shape)}")
        elif not is_real(alpha):
            raise InvalidTypeError(f"alpha must be a number or a tensor; got {type(alpha).__name__}")
        else:
            alpha = torch.full((n,), float(alpha), dtype=torch.float64)
        if not bool(torch.isfinite(alpha).all()):
            raise NonFiniteError(f"alpha of the edit of {layer!r} channel {channel} holds NaN or infinite values")
        step = torch.ones((), dtype=torch.float64)
        if table is not None:
            if layer not in table:
                raise InvalidInputError(f"sigma has no entry for style layer {layer!r}; it has: {', '.join(table)}")
            row = torch.as_tensor(table[layer]).detach().cpu().to(torch.float64).flatten()
            if row.shape != (c,):
                raise InvalidInputError(f"sigma of {layer!r} must have shape ({c},); got {tuple(row.shape)}")
            step = row[int(channel)]
        delta = deltas.setdefault(layer, torch.zeros(n, known[layer], dtype=torch.float64))
        delta[:, int(channel)] += alpha * step
    return synthesize_styles(generator, latents, deltas, batch_size=batch_size, progress=progress)
