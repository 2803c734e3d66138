"""Local edits with PandA factors: edit terms, the part maps and masks they paint, and the edit itself.

A local edit adds α a_j p̂_kᵀ to a sample's feature maps Z_i at the model's layer and runs
the rest of the generator (paper, Sec. 3.3): a_j is an appearance (a column of A), p̂_k a
part min-max normalised to [0, 1] (:func:`part_maps`, as in the official code), α the
strength. Several (part, appearance, α) terms add up, and a user-drawn mask can stand in
for a part.

Names pair up: a pure function ``…_edit`` returns the feature edit (a delta to add to Z at
the layer), and its wrapper ``…_images`` takes a generator and latents and returns images:

- :func:`local_edit` → :func:`edit_images`: Σ α a_j p̂_kᵀ (paper, Sec. 3.3), here;
- :func:`~panda_viz.editing.removal.removal_edit` → :func:`~panda_viz.editing.removal.remove_images`:
  context-aware removal (Sec. 4.1.1, Fig. 3).

Which appearances make good edits of a part is :mod:`panda_viz.editing.ranking`'s
question; pixel-level background removal by thresholded saliency pairs the same way in
:mod:`panda_viz.editing.saliency`: :func:`~panda_viz.editing.saliency.localize` (the mask)
and :func:`~panda_viz.editing.saliency.fill_images` (images with the masked pixels filled).

:func:`parts_tensor`, :func:`part_map` and :func:`resample_mask` turn a model, a part index
or a user's mask into the spatial map of one term; removal and ranking paint with them too.

Every function takes a fitted model (:class:`panda_viz.decomposition.fitted.FittedFactors`, such as
:class:`panda_viz.PandA`), checked by :mod:`panda_viz.decomposition.fitted`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_float, check_int, is_int
from ..decomposition.fitted import (
    check_compatible,
    check_fitted,
    feature_shape,
)
from ..exceptions import (
    IncompatibleFactorsError,
    InvalidIndexError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
)

__all__ = [
    "PartIndex",
    "EditTerm",
    "check_terms",
    "part_maps",
    "parts_tensor",
    "part_map",
    "resample_mask",
    "local_edit",
    "edit_images",
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
        ok = part is None or is_int(part) or (isinstance(part, tuple) and part and all(is_int(p) for p in part))
        if not ok:
            raise InvalidTypeError(f"EditTerm.part must be an int, a non-empty tuple of ints or None; got {self.part!r}")
        check_int("EditTerm.appearance", self.appearance)
        object.__setattr__(self, "alpha", check_float("EditTerm.alpha", self.alpha, low=None))

    def label(self) -> str:
        """A short human-readable description, e.g. ``part 3 × appearance 12, α = +4``."""
        part = "mask" if self.part is None else f"part {self.part}" if is_int(self.part) else "parts " + "+".join(map(str, self.part))
        return f"{part} × appearance {self.appearance}, α = {self.alpha:+g}"


def _as_terms(terms: Any) -> list[EditTerm]:
    if isinstance(terms, EditTerm):
        return [terms]
    if isinstance(terms, tuple) and len(terms) == 3 and is_int(terms[1]):  # one (part, appearance, alpha)
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
        raise InvalidInputError("local_edit needs at least one (part, appearance, alpha) term; got none")
    return out


def check_terms(terms: Sequence[EditTerm], *, n_parts: int, n_appearances: int) -> None:
    """Each term's parts and appearance checked against a model's counts, where the terms are first used.

    Raises
    ------
    InvalidIndexError
        A part or appearance index the model does not have (an ``IndexError``); the message
        names the term and both of the model's counts.
    """
    for term in terms:
        parts = () if term.part is None else (term.part,) if is_int(term.part) else term.part
        bad = [f"part {int(k)}" for k in parts if not 0 <= int(k) < n_parts]
        if not 0 <= term.appearance < n_appearances:
            bad.append(f"appearance {term.appearance}")
        if bad:
            raise InvalidIndexError(
                f"edit term {term.label()}: {' and '.join(bad)} out of range; the model has {n_parts} parts "
                f"(0 … {n_parts - 1}) and {n_appearances} appearances (0 … {n_appearances - 1})"
            )


# --------------------------------------------------------------------------- parts and masks
def parts_tensor(model_or_parts: Any) -> torch.Tensor:
    """The parts to paint with: a model's ``parts_``, or parts given as a tensor or array.

    Parameters
    ----------
    model_or_parts : fitted PandA, or Tensor / array (n_parts, H, W) or (N, n_parts, H, W)

    Returns
    -------
    Tensor of the same shape, floating point (integers become float32), not normalised.
    """
    if isinstance(model_or_parts, (torch.Tensor, np.ndarray)):
        parts = torch.as_tensor(model_or_parts)
    else:
        parts = torch.as_tensor(check_fitted(model_or_parts).parts_)
    if parts.ndim not in (3, 4):
        raise InvalidInputError(f"parts of shape (n_parts, H, W) or (N, n_parts, H, W) expected; got {tuple(parts.shape)}")
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
    return _normalize(parts_tensor(model_or_parts))


def part_map(parts: torch.Tensor, part: PartIndex) -> torch.Tensor:
    """p̂ for one part or the union of several (their sum, normalised): (H, W), or (N, H, W) for per-sample parts.

    Parameters
    ----------
    parts : Tensor (n_parts, H, W) or (N, n_parts, H, W)
        As :func:`parts_tensor` returns them.
    part : int or tuple of int

    Raises
    ------
    InvalidIndexError
        A part index outside 0 … n_parts − 1 (an ``IndexError``).
    """
    n = parts.shape[-3]
    index = (part,) if is_int(part) else part
    bad = [int(k) for k in index if not 0 <= int(k) < n]
    if bad:
        raise InvalidIndexError(f"part index {bad[0]} out of range: the model has {n} parts (0 … {n - 1})")
    return _normalize(parts[..., list(index), :, :].sum(dim=-3))


def resample_mask(mask: Any, size: tuple[int, int], *, image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """A user mask (h, w) or (N, h, w) in [0, 1] resampled to the layer's ``size`` by area averaging.

    Accepted sizes: the layer's own, or an integer multiple of it (an image-sized mask for
    a convolutional generator); with ``image_size`` given, exactly the layer's or the image's.

    Raises
    ------
    InvalidInputError
        A mask of another size, with values outside [0, 1], or empty at the layer's size.
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
        raise InvalidInputError(f"mask of shape {allowed}, optionally with a leading N axis, expected; got {tuple(m.shape)}")
    if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise InvalidInputError(f"mask values must lie in [0, 1]; got values in [{m.min().item():g}, {m.max().item():g}]")
    if tuple(m.shape[-2:]) != (H, W):
        lead = m.shape[:-2]
        m = F.interpolate(m.reshape(-1, 1, *m.shape[-2:]), size=(H, W), mode="area").reshape(*lead, H, W)
    empty = m.flatten(-2).amax(-1) <= 0
    if empty.any():
        which = "" if m.ndim == 2 else f" for sample {int(empty.nonzero()[0, 0])}"
        raise InvalidInputError(f"mask is empty{which} (all zeros after resampling to the layer's {H}×{W}); draw a region")
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
    P = parts_tensor(model if parts is None else parts).to(A.device, A.dtype)
    if tuple(P.shape[-2:]) != (H, W):
        raise IncompatibleFactorsError(f"parts of spatial size ({H}, {W}) expected (the model's features {C}×{H}×{W}); got {tuple(P.shape)}")
    check_terms(terms, n_parts=P.shape[-3], n_appearances=A.shape[1])
    uses_mask = [t for t in terms if t.part is None]
    if uses_mask and mask is None:
        raise InvalidInputError(f"term {uses_mask[0]} has part=None, which needs a mask; got mask=None")
    if mask is not None and not uses_mask:
        raise InvalidInputError("a mask was given but every term names a part; set part=None in the terms that should use it")
    region = None if mask is None else resample_mask(mask, (H, W), image_size=image_size).to(A.device, A.dtype)
    delta = torch.zeros((C, H, W), dtype=A.dtype, device=A.device)
    for term in terms:
        spatial = region if term.part is None else part_map(P, term.part)
        contribution = term.alpha * A[:, term.appearance, None, None] * spatial.unsqueeze(-3)
        if contribution.ndim == 4 and delta.ndim == 4 and len(contribution) != len(delta):
            raise InvalidInputError(f"per-sample parts and masks must agree on N; got {len(delta)} and {len(contribution)}")
        delta = delta + contribution
        if not bool(torch.isfinite(contribution).all()):
            # e.g. α = 1e308: finite as a Python float, inf once multiplied in float32
            raise NonFiniteError(
                f"the edit term {term.label()} overflows {A.dtype} (|α| × |a_j| is not finite); use a smaller |alpha|"
            )
    return delta


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
    image_size = tuple(generator.image_shape[-2:]) if mask is not None else None
    delta = local_edit(model, terms, mask=mask, parts=parts, image_size=image_size)
    n = len(generator.check_latents(latents))
    if delta.ndim == 4 and len(delta) != n:
        raise InvalidInputError(f"per-sample parts or masks for {len(delta)} samples; got {n} latents")
    return generator.synthesize(latents, edits={layer: delta}, batch_size=batch_size)
