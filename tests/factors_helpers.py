"""Hand-made PandA factors on the real embedded generator's features, for the editing tests.

``HandFactors`` has exactly the fitted attributes of :class:`panda_viz.PandA` that the
editing and saliency functions read; its appearances are the HOSVD basis of real features
(the default solver's A when n_appearances = C) and its parts are boxes, so the expected
edits and saliency maps can be computed directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

LAYER = "main.5"  # 256 × 8 × 8


@dataclass
class HandFactors:
    parts_: torch.Tensor
    appearances_: torch.Tensor
    layer_: str | None = LAYER
    generator_: str | None = None
    feature_shape_: tuple[int, int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.feature_shape_ = (self.appearances_.shape[0], *self.parts_.shape[-2:])


def box(h: int, w: int, rows: slice, cols: slice) -> torch.Tensor:
    out = torch.zeros(h, w)
    out[rows, cols] = 1.0
    return out


def hosvd_basis(Z: torch.Tensor) -> torch.Tensor:
    """Eigenvectors of the channel scatter Σ_i Z_i Z_iᵀ, largest eigenvalue first (C × C)."""
    X = Z.flatten(2).double()
    values, vectors = torch.linalg.eigh(torch.einsum("ncs,nds->cd", X, X))
    return vectors[:, values.argsort(descending=True)].float()


def make_factors(Z: torch.Tensor) -> HandFactors:
    """Three box parts on the 8 × 8 layer: centre (rows/cols 2-5), top-left corner, right column."""
    _, _, H, W = Z.shape
    parts = torch.stack([
        box(H, W, slice(2, 6), slice(2, 6)) * 0.7,  # scaled: part_maps must normalise it
        box(H, W, slice(0, 2), slice(0, 2)),
        box(H, W, slice(0, H), slice(W - 2, W)),
    ])
    return HandFactors(parts_=parts, appearances_=hosvd_basis(Z))
