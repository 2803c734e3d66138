"""Context-aware object removal with PandA factors (paper, Sec. 4.1.1 and Fig. 3).

:func:`removal_edit` is the feature edit that paints a region (a part, a union of parts
or a mask) with the background appearance a_b, and :func:`remove_images` its wrapper
returning images, in the pairing of :mod:`panda_viz.editing.edits`;
:func:`propose_background_appearance` finds a_b: the concept that surrounds the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._checks import check_choice, check_float, is_int
from ..decomposition.fitted import (
    appearance_indices,
    candidate_appearances,
    check_compatible,
    check_features_fit,
    check_fitted,
    feature_shape,
)
from ..exceptions import InvalidInputError, InvalidTypeError, NonFiniteError
from .edits import PartIndex, part_map, parts_tensor, resample_mask
from .saliency import localize, saliency_maps, saliency_thresholds

__all__ = ["propose_background_appearance", "removal_edit", "remove_images"]

#: What ``removal_edit(method=…)`` accepts.
METHODS = ("add", "replace")


def _frame_and_centre(H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    if min(H, W) < 4:
        raise InvalidInputError(f"background proposal needs a layer of at least 4×4 positions; got {H}×{W}")
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
        high-level concepts first; all of them when the model has fewer), or explicit
        indices (:func:`panda_viz.decomposition.fitted.candidate_appearances`).
    thresholds : Tensor (K,), optional
        μ for the candidates; default from ``Z``.
    return_scores : bool
        Also return the candidates' scores.

    Returns
    -------
    int, or (int, Tensor (K,)) with ``return_scores``
    """
    index = candidate_appearances(model, candidates)
    masks = localize(model, Z, index, thresholds=thresholds).float()
    frame, centre = _frame_and_centre(*masks.shape[-2:])
    scores = masks[..., frame.to(masks.device)].mean(dim=(0, 2)) - masks[..., centre.to(masks.device)].mean(dim=(0, 2))
    best = int(index[int(scores.argmax())])
    return (best, scores.cpu()) if return_scores else best


def _region_map(model: Any, region: Any, size: tuple[int, int], parts: torch.Tensor | None,
                image_size: tuple[int, int] | None) -> torch.Tensor:
    """p̂ of a part / union of parts, or a resampled mask: (H, W) or (N, H, W)."""
    if is_int(region) or (isinstance(region, (tuple, list)) and region and all(is_int(r) for r in region)):
        P = parts_tensor(model if parts is None else parts)
        return part_map(P, region if is_int(region) else tuple(region))
    if isinstance(region, (torch.Tensor, np.ndarray)):
        return resample_mask(region, size, image_size=image_size)
    raise InvalidTypeError(f"region must be a part index, a tuple of part indices, or a mask array; got {region!r}")


def removal_edit(
    model: Any,
    Z: torch.Tensor,
    region: PartIndex | torch.Tensor | np.ndarray,
    appearance: int,
    *,
    alpha: float | torch.Tensor | None = None,
    strength: float = 1.0,
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

    ``strength`` multiplies either edit (the default α or the one given): 0 is the
    identity, 1 the edit above, 2 twice it. "add" moves one direction a_b of each
    C-dimensional fibre and leaves the rest of the fibre as it was, so its change to the
    image is small by construction (a few levels of 255 on the embedded DCGAN at strength 1);
    a larger strength makes it larger, and "replace" changes the whole fibre.

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
        The edit's amount; default as above.
    strength : float
        A multiplier ≥ 0 of the edit (see above).
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
    check_choice("method", method, METHODS)
    strength = check_float("strength", strength, low=0.0, strict=False)
    Z = check_features_fit(model, Z)
    b = int(appearance_indices(model, appearance)[0])
    C, H, W = feature_shape(model)
    r = _region_map(model, region, (H, W), parts, image_size).to(Z.device, Z.dtype)
    r = r.expand(len(Z), H, W) if r.ndim == 2 else r
    if len(r) != len(Z):
        raise InvalidInputError(f"a per-sample region for {len(r)} samples; got features of {len(Z)}")
    m = saliency_maps(model, Z, [b])[:, 0]  # (N, H, W)
    if method == "add":
        if alpha is None:
            alpha = m.flatten(1).amax(1) - (m * r).sum((1, 2)) / r.sum((1, 2))
        alpha = _check_alpha(alpha, Z)
        a = check_fitted(model).appearances_.to(Z.device, Z.dtype)[:, b]
        return _finite_delta(strength * alpha * a[None, :, None, None] * r[:, None])
    mu = saliency_thresholds(model, Z, [b])[0] if thresholds is None else torch.as_tensor(thresholds).reshape(())
    background = (m >= mu.to(m.device, m.dtype)).to(Z.dtype)  # (N, H, W)
    fallback = torch.zeros_like(background).flatten(1).scatter_(1, m.flatten(1).argmax(1, keepdim=True), 1.0)
    background = torch.where(background.flatten(1).sum(1, keepdim=True) > 0, background.flatten(1), fallback).view_as(m)
    mean_fibre = torch.einsum("nchw,nhw->nc", Z, background) / background.sum((1, 2))[:, None]
    alpha = _check_alpha(1.0 if alpha is None else alpha, Z)
    return _finite_delta(strength * alpha * r[:, None] * (mean_fibre[:, :, None, None] - Z))


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
    strength: float = 1.0,
    method: str = "add",
    layer: str | None = None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Images of ``latents`` with ``region`` removed in a context-aware way (paper, Fig. 3).

    ``appearance`` defaults to :func:`propose_background_appearance` on these samples'
    features (pass it explicitly, from many samples, for a stable choice). Other
    arguments as in :func:`removal_edit`. Returns images (N, 3, H, W) in [-1, 1].
    """
    check_choice("method", method, METHODS)
    strength = check_float("strength", strength, low=0.0, strict=False)
    layer = check_compatible(generator, model, layer)
    Z = generator.features(latents, layer, batch_size=batch_size)
    if appearance is None:
        appearance = propose_background_appearance(model, Z)
    delta = removal_edit(model, Z, region, appearance, alpha=alpha, strength=strength, method=method,
                         image_size=tuple(generator.image_shape[-2:]))
    return generator.synthesize(latents, edits={layer: delta}, batch_size=batch_size)
