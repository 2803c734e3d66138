"""The objective of Eq. 3, Σ_i ‖Z_i − A Aᵀ Z_i P Pᵀ‖², evaluated without forming any reconstruction.

* :func:`residual_minus_energy`: Σ_i ‖z_i − A L_i Pᵀ‖² − Σ_i ‖z_i‖² of a batch, from thin
  products only; differentiable (the unconstrained ablation descends it with autograd).
* :func:`relative_objective`: Eq. 3 divided by Σ_i ‖Z_i‖² over a whole source (a tensor
  or a stream), in one float64 pass (the loss history of pgd/adam, ``PandA.score``).
* :func:`batch_relative_objective`: the same for an in-memory batch, differentiable.
"""

from __future__ import annotations

import torch

from ..runtime import distributed
from ._validation import CHUNK, FeatureSource

__all__ = ["residual_minus_energy", "relative_objective", "batch_relative_objective"]


def residual_minus_energy(z: torch.Tensor, A: torch.Tensor, P: torch.Tensor, AtA: torch.Tensor, PtP: torch.Tensor) -> torch.Tensor:
    """Σ_i ‖z_i − A L_i Pᵀ‖² − Σ_i ‖z_i‖² for a batch z (b, C, S), L_i = Aᵀ z_i P, without forming the reconstruction.

    = −2 ‖L‖² + tr(Lᵀ AᵀA L PᵀP), from thin products only (single GEMMs); differentiable
    in A and P (the unconstrained ablation descends it with autograd).
    """
    b, C, S = z.shape
    R, K = A.shape[1], P.shape[1]
    Y = (z.reshape(b * C, S) @ P).reshape(b, C, K)  # Z P
    L = (A.T @ Y.permute(1, 0, 2).reshape(C, b * K)).reshape(R, b, K)  # Aᵀ Z P
    return -2 * (L**2).sum() + (L * ((AtA @ L.reshape(R, b * K)).reshape(R, b, K) @ PtP)).sum()


def relative_objective(
    source: FeatureSource,
    A: torch.Tensor,
    P: torch.Tensor,
    *,
    energy: float | None = None,
    reduce: distributed.Reducer = distributed.LOCAL,
) -> float:
    """Eq. 3 divided by sum_i ||Z_i||^2, in one pass (float64).

    Uses ||Z - A L P^T||^2 = ||Z||^2 - 2 ||L||^2 + tr(L^T A^T A L P^T P) with L = A^T Z P.
    ``reduce`` completes the sums of a source that holds one rank's shard.

    Parameters
    ----------
    source : FeatureSource
        The feature maps, (N, C, H, W) as a tensor or a stream of batches.
    A : Tensor (C, n_appearances)
    P : Tensor (S, n_parts)
        Columns, S = H*W.
    energy : float, optional
        sum_i ||Z_i||^2 when already known (saves summing it again).
    reduce : distributed.Reducer
        Completes the sums across ranks (default: this process alone).

    Returns
    -------
    float
    """
    A = A.to(torch.float64)
    P = P.to(torch.float64)
    AtA = A.T @ A
    G = P.T @ P

    def compute():
        total = 0.0
        norm = 0.0
        for batch in source.batches(CHUNK):
            z = batch.to(device=A.device, dtype=torch.float64).flatten(2)
            sq = float((z**2).sum()) if energy is None else 0.0
            total += sq + float(residual_minus_energy(z, A, P, AtA, G))
            norm += sq
        return total, norm

    total, norm = reduce.sum(compute, "objective pass")
    if energy is not None:
        total, norm = total + energy, energy
    return total / norm


def batch_relative_objective(z: torch.Tensor, energy: float, A: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Σ_i ‖z_i − A Aᵀ z_i P Pᵀ‖² / energy for z (N, C, S), without forming the reconstruction
    (a step costs O(N C R (C + S)) instead of O(N C S (C + R))); differentiable in A and P.

    Parameters
    ----------
    z : Tensor (N, C, S)
    energy : float
        Σ_i ‖z_i‖².
    A : Tensor (C, R)
    P : Tensor (S, K)

    Returns
    -------
    Tensor (), the relative objective.
    """
    return (energy + residual_minus_energy(z, A, P, A.T @ A, P.T @ P)) / energy
