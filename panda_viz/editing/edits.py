"""Local edits, context-aware object removal and appearance ranking with PandA factors.

A local edit adds α a_j p̂_kᵀ to a sample's feature maps Z_i at the model's layer and runs
the rest of the generator (paper, Sec. 3.3): a_j is an appearance (a column of A), p̂_k a
part min-max normalised to [0, 1] (:func:`part_maps`, as in the official code), α the
strength. Several (part, appearance, α) terms add up, and a user-drawn mask can stand in
for a part.

Names pair up: a pure function ``…_edit`` returns the feature edit (a delta to add to Z at
the layer), and its wrapper ``…_images`` takes a generator and latents and returns images:

========================  ==========================  =========================================
feature edit (delta)      images                      what
========================  ==========================  =========================================
:func:`local_edit`        :func:`edit_images`         Σ α a_j p̂_kᵀ (paper, Sec. 3.3)
:func:`removal_edit`      :func:`remove_images`       context-aware removal (Sec. 4.1.1, Fig. 3)
========================  ==========================  =========================================

Pixel-level background removal by thresholded saliency pairs the same way in
:mod:`panda_viz.editing.saliency`: :func:`~panda_viz.editing.saliency.localize` (the mask) and
:func:`~panda_viz.editing.saliency.fill_images` (images with the masked pixels filled).

Every function takes a fitted model (:class:`panda_viz.decomposition.fitted.FittedFactors`, such as
:class:`panda_viz.PandA`), checked by :mod:`panda_viz.decomposition.fitted`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..decomposition.fitted import (
    appearance_indices,
    check_compatible,
    check_features_fit,
    check_fitted,
    feature_shape,
)
from ..exceptions import InvalidInputError, InvalidTypeError, NonFiniteError
from .saliency import localize, saliency_maps, saliency_thresholds

__all__ = [
    "EditTerm",
    "part_maps",
    "local_edit",
    "edit_images",
    "propose_background_appearance",
    "removal_edit",
    "remove_images",
    "AppearanceRanking",
    "default_alpha",
    "rank_appearances",
]

PartIndex = int | tuple[int, ...]


@dataclass(frozen=True)
class EditTerm:
    """One term α a_j p̂_kᵀ of a local edit.

    Parameters
    ----------
    part : int, tuple of int, or None
        The part k; a tuple edits the union of several parts (their sum, normalised to
        [0, 1], as the official code does); ``None`` uses the ``mask`` given to
        :func:`local_edit` instead.
    appearance : int
        The appearance j (a column of ``appearances_``).
    alpha : float
        The strength α (negative values subtract the appearance).
    """

    part: PartIndex | None
    appearance: int
    alpha: float

    def __post_init__(self) -> None:
        part = self.part
        if isinstance(part, (list, np.ndarray, torch.Tensor)):
            part = tuple(int(p) for p in np.asarray(part).reshape(-1))
            object.__setattr__(self, "part", part)
        ok = part is None or _is_int(part) or (isinstance(part, tuple) and part and all(_is_int(p) for p in part))
        if not ok:
            raise InvalidTypeError(f"EditTerm.part must be an int, a non-empty tuple of ints or None; got {self.part!r}")
        if not _is_int(self.appearance):
            raise InvalidTypeError(f"EditTerm.appearance must be an int; got {self.appearance!r}")
        if isinstance(self.alpha, (bool, np.bool_)) or not isinstance(self.alpha, (int, float, np.number)) or isinstance(
            self.alpha, np.complexfloating
        ):
            raise InvalidTypeError(f"EditTerm.alpha must be a real number; got {type(self.alpha).__name__} {self.alpha!r}")
        alpha = float(self.alpha)
        if not np.isfinite(alpha):
            raise NonFiniteError(f"EditTerm.alpha must be a finite number; got {self.alpha!r}")
        object.__setattr__(self, "alpha", alpha)

    def label(self) -> str:
        """A short human-readable description, e.g. ``part 3 × appearance 12, α = +4``."""
        part = "mask" if self.part is None else f"part {self.part}" if _is_int(self.part) else "parts " + "+".join(map(str, self.part))
        return f"{part} × appearance {self.appearance}, α = {self.alpha:+g}"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _as_terms(terms: Any) -> list[EditTerm]:
    if isinstance(terms, EditTerm):
        return [terms]
    if isinstance(terms, tuple) and len(terms) == 3 and _is_int(terms[1]):  # one (part, appearance, alpha)
        return [EditTerm(*terms)]
    try:
        out = [t if isinstance(t, EditTerm) else EditTerm(*t) for t in terms]
    except InvalidTypeError:
        raise
    except TypeError as err:
        raise InvalidTypeError(
            f"terms must be an EditTerm, a (part, appearance, alpha) tuple, or a sequence of them; got {terms!r}"
        ) from err
    if not out:
        raise ValueError("local_edit needs at least one (part, appearance, alpha) term; got none")
    return out


# --------------------------------------------------------------------------- parts and masks
def _parts_tensor(model_or_parts: Any) -> torch.Tensor:
    if isinstance(model_or_parts, (torch.Tensor, np.ndarray)):
        parts = torch.as_tensor(model_or_parts)
    else:
        parts = torch.as_tensor(check_fitted(model_or_parts).parts_)
    if parts.ndim not in (3, 4):
        raise ValueError(f"parts of shape (n_parts, H, W) or (N, n_parts, H, W) expected; got {tuple(parts.shape)}")
    return parts if parts.dtype.is_floating_point else parts.float()


def _normalize(maps: torch.Tensor) -> torch.Tensor:
    lo = maps.amin(dim=(-2, -1), keepdim=True)
    hi = maps.amax(dim=(-2, -1), keepdim=True)
    return (maps - lo) / (hi - lo).clamp_min(torch.finfo(maps.dtype).tiny)


def part_maps(model_or_parts: Any) -> torch.Tensor:
    """Parts min-max normalised to [0, 1], each on its own (the official code's p̂_k): soft maps, not binary masks.

    Parameters
    ----------
    model_or_parts : fitted PandA, or Tensor (n_parts, H, W) or (N, n_parts, H, W)
        Global parts, or per-sample parts from ``model.refine``.

    Returns
    -------
    Tensor of the same shape, values in [0, 1] (a constant part becomes zeros).
    """
    return _normalize(_parts_tensor(model_or_parts))


def _part_map(parts: torch.Tensor, part: PartIndex) -> torch.Tensor:
    """p̂ for one part or the union of several: (H, W) or (N, H, W)."""
    n = parts.shape[-3]
    index = (part,) if _is_int(part) else part
    bad = [int(k) for k in index if not 0 <= int(k) < n]
    if bad:
        raise IndexError(f"part index {bad[0]} out of range: the model has {n} parts (0 … {n - 1})")
    return _normalize(parts[..., list(index), :, :].sum(dim=-3))


def _resample_mask(mask: Any, size: tuple[int, int], *, image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """A user mask (h, w) or (N, h, w) in [0, 1] resampled to the layer's ``size`` by area averaging.

    Accepted sizes: the layer's own, or an integer multiple of it (an image-sized mask for
    a convolutional generator); with ``image_size`` given, exactly the layer's or the image's.
    """
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    m = m.float() if m.dtype == torch.bool or not m.dtype.is_floating_point else m
    H, W = size
    if image_size is not None:
        allowed = f"({H}, {W}) (the layer's) or {tuple(image_size)} (the image's)"
        ok_size = lambda h, w: (h, w) in {(H, W), tuple(image_size)}  # noqa: E731
    else:
        allowed = f"({H}, {W}) (the layer's) or an integer multiple of it such as the image's"
        ok_size = lambda h, w: h % H == 0 and w % W == 0 and h // H == w // W  # noqa: E731
    if m.ndim not in (2, 3) or not ok_size(*m.shape[-2:]):
        raise ValueError(f"mask of shape {allowed}, optionally with a leading N axis, expected; got {tuple(m.shape)}")
    if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise ValueError(f"mask values must lie in [0, 1]; got values in [{m.min().item():g}, {m.max().item():g}]")
    if tuple(m.shape[-2:]) != (H, W):
        lead = m.shape[:-2]
        m = F.interpolate(m.reshape(-1, 1, *m.shape[-2:]), size=(H, W), mode="area").reshape(*lead, H, W)
    empty = m.flatten(-2).amax(-1) <= 0
    if empty.any():
        which = "" if m.ndim == 2 else f" for sample {int(empty.nonzero()[0, 0])}"
        raise ValueError(f"mask is empty{which} (all zeros after resampling to the layer's {H}×{W}); draw a region")
    return m


# --------------------------------------------------------------------------- local edits
def local_edit(
    model: Any,
    terms: EditTerm | Sequence[EditTerm] | Sequence[tuple],
    *,
    mask: torch.Tensor | np.ndarray | None = None,
    parts: torch.Tensor | None = None,
    image_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """The additive edit Σ α a_j p̂_kᵀ of a feature map (paper, Sec. 3.3).

    Parameters
    ----------
    model : fitted PandA
    terms : EditTerm, (part, appearance, alpha) tuple, or a sequence of them
        A term whose part is ``None`` uses ``mask``.
    mask : array (h, w) or (N, h, w), values in [0, 1], optional
        A region drawn by the user, for pixel-level control: at the layer's size (H, W)
        or at an integer multiple of it (e.g. the image's), resampled to (H, W) by area
        averaging (a binary image mask becomes each position's coverage).
    parts : Tensor (n_parts, H, W) or (N, n_parts, H, W), optional
        Parts to use instead of ``model.parts_``, e.g. per-sample refined parts.
    image_size : (height, width), optional
        When given, a mask must be exactly layer- or image-sized.

    Returns
    -------
    Tensor (C, H, W), or (N, C, H, W) when the mask or the parts are per sample; float32,
    on the appearances' device. Pass it to ``G.synthesize(z, edits={layer: delta})``.
    """
    C, H, W = feature_shape(model)
    A = check_fitted(model).appearances_
    A = A if A.dtype.is_floating_point else A.float()
    terms = _as_terms(terms)
    P = _parts_tensor(model if parts is None else parts).to(A.device, A.dtype)
    if tuple(P.shape[-2:]) != (H, W):
        raise ValueError(f"parts of spatial size ({H}, {W}) expected (the model's features {C}×{H}×{W}); got {tuple(P.shape)}")
    appearance_indices(model, [t.appearance for t in terms])
    uses_mask = [t for t in terms if t.part is None]
    if uses_mask and mask is None:
        raise ValueError(f"term {uses_mask[0]} has part=None, which needs a mask; got mask=None")
    if mask is not None and not uses_mask:
        raise ValueError("a mask was given but every term names a part; set part=None in the terms that should use it")
    region = None if mask is None else _resample_mask(mask, (H, W), image_size=image_size).to(A.device, A.dtype)
    delta = torch.zeros((C, H, W), dtype=A.dtype, device=A.device)
    for term in terms:
        spatial = region if term.part is None else _part_map(P, term.part)
        contribution = term.alpha * A[:, term.appearance, None, None] * spatial.unsqueeze(-3)
        if contribution.ndim == 4 and delta.ndim == 4 and len(contribution) != len(delta):
            raise ValueError(f"per-sample parts and masks must agree on N; got {len(delta)} and {len(contribution)}")
        delta = delta + contribution
        if not bool(torch.isfinite(contribution).all()):
            # e.g. α = 1e308: finite as a Python float, inf once multiplied in float32
            raise NonFiniteError(
                f"the edit term {term.label()} overflows {A.dtype} (|α| × |a_j| is not finite); use a smaller |alpha|"
            )
    return delta


def _image_size(generator: Any) -> tuple[int, int]:
    return tuple(generator.image_shape[-2:])


def edit_images(
    generator: Any, latents: torch.Tensor, model: Any, terms: EditTerm | Sequence[EditTerm] | Sequence[tuple],
    *,
    mask: torch.Tensor | np.ndarray | None = None, parts: torch.Tensor | None = None,
    layer: str | None = None, batch_size: int | None = None,
) -> torch.Tensor:
    """Images of ``latents`` with the local edit :func:`local_edit` applied at the model's layer.

    Parameters
    ----------
    generator : panda_viz.Generator
    latents : Tensor (N, *latent_shape)
    model, terms, mask, parts
        As in :func:`local_edit`; a mask is layer-sized or image-sized.
    layer : str, optional
        Needed only when the model does not record its layer; must agree with it otherwise.
    batch_size : int or None
        Samples per forward pass; ``None``: as many as fit in ``generator.memory_budget``.

    Returns
    -------
    Tensor (N, 3, H_img, W_img) in [-1, 1]. All alphas 0 give exactly ``G.synthesize(latents)``.
    """
    layer = check_compatible(generator, model, layer)
    image_size = _image_size(generator) if mask is not None else None
    delta = local_edit(model, terms, mask=mask, parts=parts, image_size=image_size)
    n = len(generator.check_latents(latents))
    if delta.ndim == 4 and len(delta) != n:
        raise ValueError(f"per-sample parts or masks for {len(delta)} samples; got {n} latents")
    return generator.synthesize(latents, edits={layer: delta}, batch_size=batch_size)


# --------------------------------------------------------------------------- removal
def _frame_and_centre(H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    if min(H, W) < 4:
        raise ValueError(f"background proposal needs a layer of at least 4×4 positions; got {H}×{W}")
    frame = torch.zeros(H, W, dtype=torch.bool)
    bh, bw = max(1, H // 8), max(1, W // 8)
    frame[:bh], frame[-bh:], frame[:, :bw], frame[:, -bw:] = True, True, True, True
    centre = torch.zeros(H, W, dtype=torch.bool)
    centre[H // 4 : H - H // 4, W // 4 : W - W // 4] = True
    return frame, centre


def propose_background_appearance(
    model: Any,
    Z: torch.Tensor,
    *,
    candidates: int | Sequence[int] = 16,
    thresholds: torch.Tensor | None = None,
    return_scores: bool = False,
) -> int | tuple[int, torch.Tensor]:
    """Propose which appearance is the "background" concept (paper, Sec. 4.1.1).

    Rule: localise each candidate concept with the paper's threshold (m_ik ≥ μ_k, see
    :func:`panda_viz.editing.saliency.localize`) and score it by the fraction of the image frame
    (the outer eighth of the layer on each side) it covers minus the fraction of the
    central half it covers, averaged over the samples. The background of object-centred
    images (faces, animals, cars) surrounds the object, so it scores highest. Concepts are
    taken as oriented by the fit (m_ik = a_kᵀ Z_i, high where the concept is).

    Parameters
    ----------
    model : fitted PandA
    Z : Tensor (N, C, H, W)
        Features of some samples (a few hundred make the score stable).
    candidates : int or sequence of int
        The first ``candidates`` appearances (the HOSVD order puts the prominent,
        high-level concepts first), or explicit indices.
    thresholds : Tensor (K,), optional
        μ for the candidates; default from ``Z``.
    return_scores : bool
        Also return the candidates' scores.

    Returns
    -------
    int, or (int, Tensor (K,)) with ``return_scores``
    """
    n = check_fitted(model).appearances_.shape[1]
    if _is_int(candidates) and int(candidates) < 1:
        raise ValueError(f"candidates must be a positive int or a sequence of indices; got {candidates!r}")
    index = torch.arange(min(int(candidates), n)) if _is_int(candidates) else appearance_indices(model, candidates)
    masks = localize(model, Z, index, thresholds=thresholds).float()
    frame, centre = _frame_and_centre(*masks.shape[-2:])
    scores = masks[..., frame.to(masks.device)].mean(dim=(0, 2)) - masks[..., centre.to(masks.device)].mean(dim=(0, 2))
    best = int(index[int(scores.argmax())])
    return (best, scores.cpu()) if return_scores else best


def _region_map(model: Any, region: Any, size: tuple[int, int], parts: torch.Tensor | None,
                image_size: tuple[int, int] | None) -> torch.Tensor:
    """p̂ of a part / union of parts, or a resampled mask: (H, W) or (N, H, W)."""
    if _is_int(region) or (isinstance(region, (tuple, list)) and region and all(_is_int(r) for r in region)):
        P = _parts_tensor(model if parts is None else parts)
        return _part_map(P, region if _is_int(region) else tuple(region))
    if isinstance(region, (torch.Tensor, np.ndarray)):
        return _resample_mask(region, size, image_size=image_size)
    raise TypeError(f"region must be a part index, a tuple of part indices, or a mask array; got {region!r}")


def removal_edit(
    model: Any,
    Z: torch.Tensor,
    region: PartIndex | torch.Tensor | np.ndarray,
    appearance: int,
    *,
    alpha: float | torch.Tensor | None = None,
    method: str = "add",
    thresholds: float | torch.Tensor | None = None,
    parts: torch.Tensor | None = None,
    image_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """The feature edit that removes what is in ``region``, using the background appearance a_b.

    ``method="add"`` (the paper, Sec. 4.1.1 and Fig. 3): Z_i + α_i a_b r̂ᵀ, where r̂ is the
    region (a normalised part, or a mask). Default α_i is context-aware: the amount that
    lifts the region's background coordinate to the image's own strongest background,
    α_i = max_s m_ibs − Σ_s r̂_s m_ibs / Σ_s r̂_s with m_ib = a_bᵀ Z_i.

    ``method="replace"``: Z_i + α r̂ ⊙ (z̄_i − Z_i), blending the region's fibres towards
    z̄_i, the mean fibre of image i's own background (its positions with m_ibs ≥ μ_b);
    α (default 1) is the blend, 1 replacing the region's content outright.

    Parameters
    ----------
    model : fitted PandA
    Z : Tensor (N, C, H, W)
        Features of the samples to edit.
    region : int, tuple of int, or array (h, w) / (N, h, w)
        A part, a union of parts, or a mask (see :func:`local_edit`).
    appearance : int
        The background appearance b (see :func:`propose_background_appearance`).
    alpha : float or Tensor (N,), optional
        Strength; default as above.
    method : {'add', 'replace'}
    thresholds : float, optional
        μ_b for ``'replace'``; default from ``Z``.
    parts : Tensor, optional
        Parts instead of ``model.parts_`` (e.g. refined, per sample).
    image_size : (height, width), optional
        When given, a mask must be exactly layer- or image-sized.

    Returns
    -------
    Tensor (N, C, H, W): add it to Z (or pass it as ``edits={layer: delta}``).
    """
    if method not in ("add", "replace"):
        raise ValueError(f"Invalid method: got {method!r} instead of one of {{'add', 'replace'}}")
    Z = check_features_fit(model, Z)
    b = int(appearance_indices(model, appearance)[0])
    C, H, W = feature_shape(model)
    r = _region_map(model, region, (H, W), parts, image_size).to(Z.device, Z.dtype)
    r = r.expand(len(Z), H, W) if r.ndim == 2 else r
    if len(r) != len(Z):
        raise ValueError(f"a per-sample region for {len(r)} samples; got features of {len(Z)}")
    m = saliency_maps(model, Z, [b])[:, 0]  # (N, H, W)
    if method == "add":
        if alpha is None:
            alpha = m.flatten(1).amax(1) - (m * r).sum((1, 2)) / r.sum((1, 2))
        alpha = _check_alpha(alpha, Z)
        a = check_fitted(model).appearances_.to(Z.device, Z.dtype)[:, b]
        return _finite_delta(alpha * a[None, :, None, None] * r[:, None])
    mu = saliency_thresholds(model, Z, [b])[0] if thresholds is None else torch.as_tensor(thresholds).reshape(())
    background = (m >= mu.to(m.device, m.dtype)).to(Z.dtype)  # (N, H, W)
    fallback = torch.zeros_like(background).flatten(1).scatter_(1, m.flatten(1).argmax(1, keepdim=True), 1.0)
    background = torch.where(background.flatten(1).sum(1, keepdim=True) > 0, background.flatten(1), fallback).view_as(m)
    mean_fibre = torch.einsum("nchw,nhw->nc", Z, background) / background.sum((1, 2))[:, None]
    alpha = _check_alpha(1.0 if alpha is None else alpha, Z)
    return _finite_delta(alpha * r[:, None] * (mean_fibre[:, :, None, None] - Z))


def _check_alpha(alpha: Any, Z: torch.Tensor) -> torch.Tensor:
    """α as a (1 or N, 1, 1, 1) tensor in Z's dtype, refusing non-numbers and NaN/inf."""
    if isinstance(alpha, (bool, str, bytes)):
        raise InvalidTypeError(f"alpha must be a number or a tensor (N,); got {type(alpha).__name__} {alpha!r}")
    try:
        value = torch.as_tensor(alpha, dtype=Z.dtype, device=Z.device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise InvalidTypeError(f"alpha must be a number or a tensor (N,); got {type(alpha).__name__}") from err
    if value.numel() not in (1, len(Z)):
        raise InvalidInputError(f"alpha must be one number or one per sample ({len(Z)}); got {value.numel()} values")
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteError(f"alpha must be finite (in {Z.dtype}); got {alpha!r}")
    return value.reshape(-1, 1, 1, 1)


def _finite_delta(delta: torch.Tensor) -> torch.Tensor:
    if not bool(torch.isfinite(delta).all()):
        raise NonFiniteError("the removal edit overflows (|alpha| too large, or features with NaN/inf); use a smaller alpha")
    return delta


def remove_images(
    generator: Any,
    latents: torch.Tensor,
    model: Any,
    region: PartIndex | torch.Tensor | np.ndarray,
    appearance: int | None = None,
    *,
    alpha: float | torch.Tensor | None = None,
    method: str = "add",
    layer: str | None = None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Images of ``latents`` with ``region`` removed in a context-aware way (paper, Fig. 3).

    ``appearance`` defaults to :func:`propose_background_appearance` on these samples'
    features (pass it explicitly, from many samples, for a stable choice). Other
    arguments as in :func:`removal_edit`. Returns images (N, 3, H, W) in [-1, 1].
    """
    layer = check_compatible(generator, model, layer)
    Z = generator.features(latents, layer, batch_size=batch_size)
    if appearance is None:
        appearance = propose_background_appearance(model, Z)
    delta = removal_edit(model, Z, region, appearance, alpha=alpha, method=method, image_size=_image_size(generator))
    return generator.synthesize(latents, edits={layer: delta}, batch_size=batch_size)


# --------------------------------------------------------------------------- ranking
class AppearanceRanking(NamedTuple):
    """Appearances ordered by how locally and strongly they change a part (best first).

    Attributes
    ----------
    appearances : LongTensor (K,)
    scores : Tensor (K,), descending
    signs : Tensor (K,) of ±1: the sign of α that gave the score
    alpha : float: the |α| used
    """

    appearances: torch.Tensor
    scores: torch.Tensor
    signs: torch.Tensor
    alpha: float

    def terms(self, part: PartIndex, top: int = 3, alpha: float | None = None) -> list[EditTerm]:
        """The ``top`` best edits of ``part`` as :class:`EditTerm` s (α defaults to the ranking's)."""
        scale = self.alpha if alpha is None else float(alpha)
        return [EditTerm(part, int(j), float(s) * scale) for j, s in zip(self.appearances[:top], self.signs[:top])]


def default_alpha(Z: torch.Tensor) -> float:
    """A strength |α| that visibly changes a region: the mean length ‖Z_i[:, s]‖ of the feature fibres.

    Parameters
    ----------
    Z : Tensor (N, C, H, W)

    Returns
    -------
    float (about 3.3 at ``main.5`` of the embedded DCGAN)
    """
    if not isinstance(Z, torch.Tensor) or Z.ndim != 4:
        got = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        raise ValueError(f"features of shape (N, C, H, W) expected; got {got}")
    return float(Z.norm(dim=1).mean())


def rank_appearances(
    generator: Any,
    latents: torch.Tensor,
    model: Any,
    part: PartIndex,
    *,
    alpha: float | None = None,
    candidates: int | Sequence[int] | None = None,
    both_signs: bool = True,
    parts: torch.Tensor | None = None,
    layer: str | None = None,
    batch_size: int | None = None,
) -> AppearanceRanking:
    """Rank appearances by how much they change ``part`` and only it, so useful edits come first.

    Rule: for each candidate j, edit every sample with α a_j p̂_kᵀ and measure the squared
    image change d (mean over RGB) at each pixel; with w the part p̂_k upsampled to the
    image (bilinear, in [0, 1]),

        score_j = mean_i [ Σ w d / Σ w  −  Σ (1 − w) d / Σ (1 − w) ],

    the mean change inside the part minus the mean change outside it. Strong edits confined
    to the part score high; edits that change the whole image score near zero. With
    ``both_signs`` each appearance is tried with +α and −α and keeps the better.

    Parameters
    ----------
    generator : panda_viz.Generator
    latents : Tensor (N, *latent_shape)
        A few samples (4 to 8 are enough to rank).
    model : fitted PandA
    part : int or tuple of int
    alpha : float, optional
        |α|; default :func:`default_alpha` of the samples' features.
    candidates : int or sequence of int, optional
        The appearances to rank (default: all): an int n means the first n (as in
        :func:`propose_background_appearance`), a sequence the indices themselves.
    both_signs : bool
    parts : Tensor, optional
        Parts instead of ``model.parts_``.
    layer : str, optional
    batch_size : int or None
        Edited samples per forward pass; ``None``: as many as fit in
        ``generator.memory_budget``, at most 256.

    Returns
    -------
    AppearanceRanking
        ``appearances`` a permutation of the candidates, ``scores`` descending.
    """
    layer = check_compatible(generator, model, layer)
    latents = generator.check_latents(latents)
    Z = generator.features(latents, layer)
    n_app = check_fitted(model).appearances_.shape[1]
    if _is_int(candidates):
        if not 1 <= int(candidates) <= n_app:
            raise InvalidInputError(f"candidates as an int means the first n; n must be in 1 … {n_app}; got {candidates}")
        candidates = torch.arange(int(candidates))
    else:
        candidates = appearance_indices(model, candidates)
    P = _parts_tensor(model if parts is None else parts)
    p = _part_map(P, part).to(Z.device, Z.dtype)  # (H, W) or (N, H, W)
    scale = default_alpha(Z) if alpha is None else abs(float(alpha))
    A = check_fitted(model).appearances_.to(Z.device, Z.dtype)
    base = generator.synthesize_from(layer, Z, latents)
    w = F.interpolate(p.expand(len(Z), *p.shape[-2:])[:, None], size=base.shape[-2:], mode="bilinear",
                      align_corners=False)[:, 0].clamp(0, 1)
    signs = (1.0, -1.0) if both_signs else (1.0,)
    N = len(Z)
    if batch_size is None:
        batch_size = generator.batch_size_for(at_most=256)
    per_chunk = max(1, batch_size // N)
    best = torch.full((len(candidates),), -torch.inf)
    best_sign = torch.ones(len(candidates))
    for sign in signs:
        for start in range(0, len(candidates), per_chunk):
            chunk = candidates[start : start + per_chunk]
            a = A[:, chunk.to(A.device)]  # (C, J)
            delta = sign * scale * a.T[:, None, :, None, None] * p.unsqueeze(-3)  # (J, 1 or N, C, H, W)
            edited = (Z[None] + delta).reshape(-1, *Z.shape[1:])
            images = generator.synthesize_from(layer, edited, latents.repeat(len(chunk), *[1] * (latents.ndim - 1)))
            d = (images.reshape(len(chunk), N, *base.shape[1:]) - base[None]).pow(2).mean(2)  # (J, N, h, w)
            inside = (d * w).sum((-2, -1)) / w.sum((-2, -1)).clamp_min(1e-12)
            outside = (d * (1 - w)).sum((-2, -1)) / (1 - w).sum((-2, -1)).clamp_min(1e-12)
            score = (inside - outside).mean(1).cpu()
            better = score > best[start : start + len(chunk)]
            best[start : start + len(chunk)] = torch.where(better, score, best[start : start + len(chunk)])
            best_sign[start : start + len(chunk)] = torch.where(better, sign, best_sign[start : start + len(chunk)])
    order = torch.argsort(best, descending=True, stable=True)
    return AppearanceRanking(candidates[order], best[order], best_sign[order], scale)
