"""Algorithm 1 of the PandA paper: block-coordinate projected gradient descent.

The gradients are Eqs. 4-5 (hand-derived; tests compare them with autograd), summed over
the mini-batch as the official code does, with A unconstrained:

    grad_P = 2 sum_i ( Pb Z_i^T Ab Ab Z_i P + Z_i^T Ab Ab Z_i Pb P - 2 Z_i^T Ab Z_i P )
    grad_A = 2 sum_i ( Ab Z_i Pb Pb Z_i^T A + Z_i Pb Pb Z_i^T Ab A - 2 Z_i Pb Z_i^T A )

with Pb = P P^T and Ab = A A^T. They are evaluated right to left through the thin
products Z_i P (C x R_S) and A^T Z_i (R_C x S), never forming an S x S or C x C matrix
per sample: the same numbers at a fraction of the cost.
"""

from __future__ import annotations

import torch

__all__ = ["grad_parts", "grad_appearances", "pgd_step"]


def grad_parts(Z: torch.Tensor, A: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 4 summed over the batch. Z (b, C, S), A (C, R_C), P (S, R_S) -> (S, R_S)."""
    ZP = Z @ P  # (b, C, K)
    W_ZP = A @ (A.T @ ZP)  # Ab Z P
    WW_ZP = A @ (A.T @ W_ZP)  # Ab Ab Z P
    X1 = Z.mT @ W_ZP  # Z^T Ab Z P            (b, S, K)
    X2 = Z.mT @ WW_ZP  # Z^T Ab Ab Z P         (b, S, K)
    G = P.T @ P
    grad = -4 * X1 + 2 * (P @ (P.T @ X2)) + 2 * (X2 @ G)
    return grad.sum(0)


def grad_appearances(Z: torch.Tensor, A: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 5 summed over the batch. Z (b, C, S), A (C, R_C), P (S, R_S) -> (C, R_C)."""
    Y = Z @ P  # Z P                (b, C, K)
    G = P.T @ P
    YtA = Y.mT @ A  # P^T Z^T A          (b, K, R)
    ZQZtA = Y @ YtA  # Z Pb Z^T A         (b, C, R)
    ZQQZtA = Y @ (G @ YtA)  # Z Pb Pb Z^T A      (b, C, R)
    AtA = A.T @ A
    # Ab Z Pb Pb Z^T A = A (A^T Z Pb Pb Z^T A);  Z Pb Pb Z^T Ab A = Z Pb Pb Z^T A (A^T A)
    grad = -4 * ZQZtA + 2 * (A @ (A.T @ ZQQZtA)) + 2 * (Y @ (G @ (Y.mT @ (A @ AtA))))
    return grad.sum(0)


def pgd_step(Z: torch.Tensor, A: torch.Tensor, P: torch.Tensor, lr: float):
    """One iteration of Algorithm 1: projected step in P, then a gradient step in A at the new P."""
    P = (P - lr * grad_parts(Z, A, P)).clamp_min(0)
    A = A - lr * grad_appearances(Z, A, P)
    return A, P
