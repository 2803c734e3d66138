"""Refinement (Eq. 6): sample-specific parts from the global ones, with A fixed.

    min_{P~_i >= 0} ||Z_i - A A^T Z_i P~_i P~_i^T||_F^2 + rho_i ||P~_i - P||_F^2

Eq. 6 alone, run to convergence, drifts far from the global parts (its minimiser no
longer matches part k of one sample with part k of another). The refinement here is
anchored twice: by the proximity term, whose weight rho_i = proximity * ||Z_i||^2 / R_S
is relative to the sample's energy (``proximity=0`` gives Eq. 6 exactly), and by a step
budget (``max_iter``, 100 by default as in the paper's timing). The steps are those of
the default solver (projected gradient with exact line search, all samples in one batch),
starting from the global parts.
"""

from __future__ import annotations

import torch

from ._projective import solve_parts

__all__ = ["refine_parts"]


def refine_parts(
    Z: torch.Tensor,
    A: torch.Tensor,
    P: torch.Tensor,
    *,
    proximity: float = 0.1,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> torch.Tensor:
    """Refined parts (N, S, R_S) float64 for samples Z (N, C, S), from global A (C, R_C), P (S, R_S)."""
    z = Z.to(torch.float64)
    A = A.to(device=z.device, dtype=torch.float64)
    P = P.to(device=z.device, dtype=torch.float64)
    Y = A.T @ z  # (N, R, S)
    M1 = Y.mT @ Y
    AtA = A.T @ A
    M2 = Y.mT @ (AtA @ Y)
    same = torch.allclose(AtA, torch.eye(AtA.shape[0], dtype=AtA.dtype, device=AtA.device), atol=1e-10)
    energy = (z**2).sum(dim=(1, 2))
    n_parts = P.shape[1]
    rho = proximity * energy / n_parts
    anchor = P.expand(z.shape[0], *P.shape).contiguous()
    result = solve_parts(
        M1,
        None if same else M2,
        anchor.clone(),
        energy,
        max_iter=max_iter,
        tol=tol,
        rescale=False,
        rho=rho if proximity > 0 else None,
        anchor=anchor if proximity > 0 else None,
    )
    return result.P
