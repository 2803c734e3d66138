"""The ablations of the paper's Fig. 8: what PandA's constraints and form buy.

PandA decomposes each sample's mode-3 unfolding Z_i (C x S) with non-negative parts. The
paper's Fig. 8 compares, row by row:

1. MPCA (Lu, Plataniotis & Venetsanopoulos, 2008) on the 3rd-order tensors Z_i (C x H x W):
   separate row and column factors, so every "part" is an outer product u_h u_wᵀ
   (:func:`mpca` with ``Z`` of shape (N, C, H, W));
2. MPCA on the mode-3 unfoldings Z_i (C x S) (:func:`mpca` with ``Z`` flattened to
   (N, C, S)): orthonormal spatial factors, no sign constraint;
3. PandA's objective without the non-negativity constraint (:func:`unconstrained_panda`):
   min Σ_i ‖Z_i − A Aᵀ Z_i P Pᵀ‖² over free A and P, by gradient descent from PandA's
   initialisation;
4. PandA itself (:class:`panda_viz.decomposition.PandA`).

Only 4 gives local, non-overlapping parts; 1 to 3 give factors spanning the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._init import channel_basis, random_parts, unfold
from .objectives import batch_relative_objective

__all__ = ["MPCAResult", "mpca", "unconstrained_panda", "UnconstrainedResult"]


@dataclass
class MPCAResult:
    """Orthonormal factors of MPCA, one per sample mode.

    Attributes
    ----------
    factors : list of Tensor (I_n, R_n)
        For Z (N, C, H, W): [U_C, U_H, U_W]; for Z (N, C, S): [U_C, U_S].
    mean : Tensor (I_1, ..., I_d)
        The sample mean that was subtracted (zeros with ``center=False``).
    captured : float
        Fraction of the (centred) total scatter the projection keeps.
    n_iter : int
    """

    factors: list
    mean: torch.Tensor
    captured: float
    n_iter: int

    def spatial_maps(self) -> torch.Tensor:
        """The spatial factors as maps: (R_H·R_W, H, W) outer products u_h u_wᵀ, or (R_S, S)."""
        if len(self.factors) == 3:
            U_h, U_w = self.factors[1], self.factors[2]
            return torch.einsum("ha,wb->abhw", U_h, U_w).reshape(-1, U_h.shape[0], U_w.shape[0])
        return self.factors[1].T


def _check_ranks(shape: tuple[int, ...], ranks: tuple[int, ...]) -> tuple[int, ...]:
    if len(ranks) != len(shape):
        raise ValueError(f"ranks must give one rank per sample mode {shape}; got {tuple(ranks)}")
    for mode, (size, rank) in enumerate(zip(shape, ranks)):
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= size:
            raise ValueError(f"rank of mode {mode} must be an int in [1, {size}]; got {rank!r}")
    return tuple(ranks)


def _project(X: torch.Tensor, factors: list, skip: int) -> torch.Tensor:
    """Multiply the sample modes of X (N, I_1, ..., I_d) by U_mᵀ for every m != skip."""
    for mode, U in enumerate(factors):
        if mode == skip:
            continue
        X = torch.movedim(torch.movedim(X, mode + 1, -1) @ U, -1, mode + 1)
    return X


def mpca(Z: torch.Tensor, ranks: tuple[int, ...], *, center: bool = True, max_iter: int = 20, tol: float = 1e-9) -> MPCAResult:
    """Multilinear PCA of N sample tensors: orthonormal U_n maximising the projected scatter.

    Alternates, for each mode n, U_n = the R_n leading eigenvectors of
    Σ_i X_i(n) (⊗_{m≠n} U_m U_mᵀ) X_i(n)ᵀ, starting from the full-projection solution
    (Lu et al., 2008, Algorithm 1).

    Parameters
    ----------
    Z : Tensor (N, I_1, ..., I_d)
        Samples; (N, C, H, W) for the 3rd-order form, (N, C, S) for the unfoldings.
    ranks : tuple of d ints
    center : bool
        Subtract the sample mean first (MPCA's definition).
    max_iter : int
        Alternations at most.
    tol : float
        Stop when the captured scatter grows by less than this (relative).

    Returns
    -------
    MPCAResult
    """
    if not isinstance(Z, torch.Tensor) or Z.ndim < 3 or Z.shape[0] < 1:
        got = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        raise ValueError(f"Z of shape (N, I_1, ..., I_d) with d >= 2 expected; got {got}")
    ranks = _check_ranks(tuple(Z.shape[1:]), tuple(ranks))
    X = Z.to(torch.float64)
    mean = X.mean(0) if center else torch.zeros_like(X[0])
    X = X - mean
    total = float((X**2).sum())

    def leading(mode: int, factors: list) -> torch.Tensor:
        Y = _project(X, factors, mode)
        Yn = torch.stack([unfold(y, mode) for y in Y])  # (N, I_n, prod)
        return channel_basis(torch.einsum("nij,nkj->ik", Yn, Yn), ranks[mode])  # leading eigenvectors, fixed signs

    eye = [torch.eye(s, dtype=X.dtype, device=X.device) for s in X.shape[1:]]
    factors = [leading(m, eye[:m] + [None] + eye[m + 1 :]) for m in range(len(ranks))]
    captured = float((_project(X, factors, -1) ** 2).sum()) / total
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        for m in range(len(ranks)):
            factors[m] = leading(m, factors)
        new = float((_project(X, factors, -1) ** 2).sum()) / total
        done = new - captured <= tol
        captured = max(captured, new)
        if done:
            break
    return MPCAResult([U.to(Z.dtype) for U in factors], mean.to(Z.dtype), captured, n_iter)


@dataclass
class UnconstrainedResult:
    """PandA's objective minimised with free (sign-unconstrained) parts.

    Attributes
    ----------
    parts : Tensor (n_parts, H, W)   (any sign)
    appearances : Tensor (C, C)
    objective : float
        Relative objective Σ‖Z_i − AAᵀZ_iPPᵀ‖² / Σ‖Z_i‖².
    loss_history : list of float
    """

    parts: torch.Tensor
    appearances: torch.Tensor
    objective: float
    loss_history: list


def unconstrained_panda(
    Z: torch.Tensor,
    n_parts: int,
    *,
    max_iter: int = 500,
    learning_rate: float = 1e-2,
    random_state: int = 0,
) -> UnconstrainedResult:
    """min_{A, P} Σ_i ‖Z_i − A Aᵀ Z_i P Pᵀ‖²_F without P ≥ 0 (Fig. 8, row 3).

    Starts where PandA starts (A from the channel HOSVD basis, P ~ U(0, 0.01)) and runs
    full-batch Adam on the relative objective, never projecting P.

    Parameters
    ----------
    Z : Tensor (N, C, H, W)
    n_parts : int
        In [1, H·W].
    max_iter : int
    learning_rate : float
        Adam's step.
    random_state : int
        Seeds P's initialisation (a local torch.Generator).

    Returns
    -------
    UnconstrainedResult
    """
    if not isinstance(Z, torch.Tensor) or Z.ndim != 4:
        got = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        raise ValueError(f"Z of shape (N, C, H, W) expected; got {got}")
    N, C, H, W = Z.shape
    if not isinstance(n_parts, int) or not 1 <= n_parts <= H * W:
        raise ValueError(f"n_parts must be an int in [1, {H * W}] (H·W); got {n_parts!r}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int; got {max_iter!r}")
    z = Z.flatten(2).to(torch.float64)
    energy = float((z**2).sum())
    A = channel_basis(torch.einsum("ncs,nds->cd", z, z), C).clone().requires_grad_(True)
    rng = torch.Generator().manual_seed(int(random_state))
    P = random_parts(1, H * W, n_parts, generator=rng, device=z.device)[0].clone().requires_grad_(True)
    optimiser = torch.optim.Adam([A, P], lr=learning_rate)
    history = []
    for _ in range(max_iter):
        optimiser.zero_grad()
        loss = batch_relative_objective(z, energy, A, P)
        loss.backward()
        optimiser.step()
        history.append(float(loss.detach()))
    with torch.no_grad():
        objective = float(batch_relative_objective(z, energy, A, P))
    return UnconstrainedResult(
        parts=P.detach().T.reshape(n_parts, H, W).to(Z.dtype),
        appearances=A.detach().to(Z.dtype),
        objective=objective,
        loss_history=history,
    )
