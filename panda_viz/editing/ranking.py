"""Appearance ranking: which appearances change a part, and only it, when added there.

:func:`rank_appearances` edits a few samples with each candidate appearance at a part and
scores how much the image changes inside the part against outside it (the rule is in its
docstring); :class:`AppearanceRanking` holds the order and turns the best into
:class:`~panda_viz.editing.edits.EditTerm` s. :func:`default_alpha` is the strength it
edits with unless told.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from .._checks import check_float
from ..decomposition.fitted import candidate_appearances, check_compatible, check_fitted
from ..exceptions import InvalidInputError
from .edits import EditTerm, PartIndex, part_map, parts_tensor

__all__ = ["AppearanceRanking", "default_alpha", "rank_appearances"]


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
        raise InvalidInputError(f"default_alpha: features of shape (N, C, H, W) expected; got {got}")
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
        The appearances to rank (default: all): an int n means the first n (all of them
        when the model has fewer), a sequence the indices themselves; as in
        :func:`~panda_viz.editing.removal.propose_background_appearance`
        (:func:`panda_viz.decomposition.fitted.candidate_appearances`).
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
    candidates = candidate_appearances(model, candidates)
    P = parts_tensor(model if parts is None else parts)
    p = part_map(P, part).to(Z.device, Z.dtype)  # (H, W) or (N, H, W)
    scale = default_alpha(Z) if alpha is None else abs(check_float("alpha", alpha, low=None))
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
