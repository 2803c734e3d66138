"""Tensor algebra for the separable model: unfoldings, mode-n products, HOSVD / Tucker, MPCA.

The few multilinear operations PandA is built on, in one place, for the library
(:mod:`panda_viz.decomposition.ablations`, the lesson, :class:`panda_viz.widgets.RankExplorer`)
and for teaching. A layer's features for N samples form the tensor
𝒵 ∈ R^{C×S×N} (``einops.rearrange(Z, "n c h w -> c (h w) n")``); PandA models each
frontal slice as Z_i ≈ A Λ_i Pᵀ, a Tucker-2 model with a non-negative spatial factor.

Conventions
-----------
**Unfolding.** ``unfold(X, n)`` is the matrix X_(n) of shape (I_n, Π_{m≠n} I_m) whose
columns are the mode-n fibres. Its columns are ordered as in TensorLy (``tl.unfold``):
the remaining modes keep their order and the *last* varies fastest (C order). Kolda &
Bader (2009, SIAM Review) order them with the *first* remaining mode fastest (Fortran
order). The two matrices have the same columns in another order,
``kolda = unfold(X, n)[:, perm]``, so they have the same row space, the same Gram matrix
X_(n) X_(n)ᵀ and the same left singular vectors: HOSVD and MPCA do not depend on the choice.

**Mode-n product.** ``mode_dot(X, M, n)`` is X ×_n M (Kolda & Bader): for M of shape
(J, I_n), the tensor Y with Y_(n) = M X_(n), mode n now of size J.

**Modes are counted from 0** (``mode=0`` is Kolda's mode 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._checks import check_int
from ..exceptions import InvalidInputError, InvalidTypeError
from ._init import channel_basis

__all__ = [
    "unfold",
    "fold",
    "mode_dot",
    "multi_mode_dot",
    "hosvd",
    "tucker_to_tensor",
    "leading_left_singular_vectors",
    "MPCAResult",
    "mpca",
]


def _check_tensor(tensor, what: str = "tensor", min_ndim: int = 1) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise InvalidTypeError(f"{what} must be a torch.Tensor; got {type(tensor).__name__}")
    if tensor.ndim < min_ndim:
        raise InvalidInputError(f"{what} needs at least {min_ndim} mode(s); got shape {tuple(tensor.shape)}")
    return tensor


def _check_mode(mode, ndim: int, what: str = "mode") -> int:
    return check_int(f"{what} of a {ndim}-D tensor", mode, low=-ndim, high=ndim - 1) % ndim


# ------------------------------------------------------------------ unfold / fold
def unfold(tensor: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-``mode`` unfolding X_(mode): the mode-``mode`` fibres as columns.

    Parameters
    ----------
    tensor : Tensor (I_0, ..., I_{d-1})
    mode : int
        In ``range(-d, d)``.

    Returns
    -------
    Tensor (I_mode, Π_{m≠mode} I_m)
        Columns in TensorLy's (C) order: the remaining modes keep their order, the last
        varies fastest. Kolda & Bader's matrix has the same columns in Fortran order (see
        the module docstring).

    Examples
    --------
    >>> X = torch.arange(24.).reshape(2, 3, 4)
    >>> unfold(X, 1).shape
    torch.Size([3, 8])
    >>> unfold(X, 1)[:, 0].tolist()          # the fibre X[0, :, 0]
    [0.0, 4.0, 8.0]
    """
    tensor = _check_tensor(tensor)
    mode = _check_mode(mode, tensor.ndim)
    return torch.movedim(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def fold(matrix: torch.Tensor, mode: int, shape: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`unfold`: ``fold(unfold(X, m), m, X.shape) == X``.

    Parameters
    ----------
    matrix : Tensor (I_mode, Π_{m≠mode} I_m)
    mode : int
    shape : sequence of int
        The shape (I_0, ..., I_{d-1}) of the tensor to rebuild.
    """
    matrix = _check_tensor(matrix, "matrix")
    shape = tuple(int(s) for s in shape)
    mode = _check_mode(mode, len(shape))
    expected = (shape[mode], torch.Size(shape).numel() // max(shape[mode], 1))
    if matrix.ndim != 2 or tuple(matrix.shape) != expected:
        raise InvalidInputError(
            f"cannot fold a matrix of shape {tuple(matrix.shape)} into {shape} along mode {mode}: "
            f"expected shape {expected}"
        )
    moved = (shape[mode], *shape[:mode], *shape[mode + 1 :])
    return torch.movedim(matrix.reshape(moved), 0, mode)


# ------------------------------------------------------------------ mode-n products
def mode_dot(tensor: torch.Tensor, matrix: torch.Tensor, mode: int, *, transpose: bool = False) -> torch.Tensor:
    """The mode-n product X ×_n M: Y_(n) = M X_(n).

    Parameters
    ----------
    tensor : Tensor (I_0, ..., I_{d-1})
    matrix : Tensor (J, I_mode), or (I_mode, J) with ``transpose=True`` (then Mᵀ is used:
        projecting on orthonormal factors U reads ``mode_dot(X, U, n, transpose=True)``)
    mode : int

    Returns
    -------
    Tensor (I_0, ..., J, ..., I_{d-1})
    """
    tensor = _check_tensor(tensor)
    matrix = _check_tensor(matrix, "matrix", 2)
    mode = _check_mode(mode, tensor.ndim)
    M = matrix.T if transpose else matrix
    if M.ndim != 2 or M.shape[1] != tensor.shape[mode]:
        raise InvalidInputError(
            f"mode_dot along mode {mode} needs a matrix with {tensor.shape[mode]} columns"
            f"{' (rows, with transpose=True)' if transpose else ''}; got shape {tuple(matrix.shape)} "
            f"for a tensor of shape {tuple(tensor.shape)}"
        )
    moved = torch.movedim(tensor, mode, -1) @ M.T.to(tensor.dtype)
    return torch.movedim(moved, -1, mode)


def multi_mode_dot(tensor: torch.Tensor, matrices: Sequence[torch.Tensor], modes: Sequence[int] | None = None,
                   *, transpose: bool = False) -> torch.Tensor:
    """X ×_{m_0} M_0 ×_{m_1} M_1 …: :func:`mode_dot` along each of ``modes`` (default 0, 1, …)."""
    matrices = list(matrices)
    modes = list(range(len(matrices))) if modes is None else list(modes)
    if len(modes) != len(matrices):
        raise InvalidInputError(f"one mode per matrix expected; got {len(matrices)} matrices and modes {modes}")
    for M, mode in zip(matrices, modes):
        tensor = mode_dot(tensor, M, mode, transpose=transpose)
    return tensor


# ------------------------------------------------------------------ HOSVD / Tucker
def leading_left_singular_vectors(matrix: torch.Tensor, n_vectors: int | None = None) -> torch.Tensor:
    """The ``n_vectors`` leading left singular vectors of ``matrix`` (I, J), as columns (I, n_vectors).

    Signs are fixed so that each vector's largest-magnitude entry is positive, so results
    do not depend on the LAPACK build. For a wide matrix (an unfolding, J ≫ I) they are the
    eigenvectors of the I x I Gram matrix M Mᵀ, computed in float64 (the same vectors,
    far cheaper than an SVD of the wide matrix), and also when ``n_vectors`` exceeds J (the
    columns span at most J dimensions: the vectors beyond complete an orthonormal basis of R^I).
    """
    I, J = matrix.shape
    if J > 4 * I or (n_vectors is not None and n_vectors > J):
        M = matrix.to(torch.float64)
        values, vectors = torch.linalg.eigh(M @ M.T)
        U = vectors[:, torch.argsort(values, descending=True)].to(matrix.dtype)
    else:
        U, _, _ = torch.linalg.svd(matrix, full_matrices=False)
    U = U[:, : U.shape[1] if n_vectors is None else n_vectors]
    peak = U.gather(0, U.abs().argmax(dim=0, keepdim=True))
    return U * torch.where(peak < 0, -1.0, 1.0).to(U.dtype)


def _check_ranks(shape: tuple[int, ...], ranks: Sequence, modes: Sequence[int], allow_none: bool,
                 what: str = "decomposed mode") -> list:
    if isinstance(ranks, (str, bytes)) or not isinstance(ranks, Sequence):
        raise InvalidTypeError(f"ranks must be a sequence of ints, one per {what}; got {ranks!r}")
    ranks = list(ranks)
    if len(ranks) != len(modes):
        sizes = tuple(shape[m] for m in modes)
        raise InvalidInputError(f"ranks must give one rank per {what} {sizes}; got {tuple(ranks)}")
    checked = []
    for mode, rank in zip(modes, ranks):
        size = shape[mode]
        if rank is None and allow_none:
            checked.append(size)
            continue
        checked.append(check_int(f"rank of mode {mode}", rank, low=1, high=size))
    return checked


def hosvd(tensor: torch.Tensor, ranks: Sequence[int | None] | None = None, *,
          modes: Sequence[int] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Truncated higher-order SVD (De Lathauwer et al., 2000): a Tucker model in one pass.

    For each decomposed mode n, U_n holds the R_n leading left singular vectors of the
    unfolding X_(n); the core is G = X ×_n U_nᵀ over those modes, and
    ``tucker_to_tensor(G, U, modes)`` = X ×_n U_n U_nᵀ is the approximation.
    Because the U_n are orthonormal and computed from X alone, truncating the full-rank
    factors and core gives every lower-rank HOSVD: ``core[:r0, :r1]`` with ``U_0[:, :r0]``,
    ``U_1[:, :r1]`` (the lesson's rank explorer relies on it). The truncation is
    quasi-optimal, not optimal: :func:`mpca` (uncentred: HOOI) improves it by alternating.

    Parameters
    ----------
    tensor : Tensor (I_0, ..., I_{d-1})
        E.g. the (C, S, N) tensor of N samples' mode-3 unfolded feature maps.
    ranks : sequence, optional
        One rank per decomposed mode (``None`` keeps that mode's full size); default full.
    modes : sequence of int, optional
        The modes to decompose (default all). Other modes are left as they are, as in a
        Tucker-2 model of (C, S, N) with ``modes=(0, 1)`` (TensorLy's ``partial_tucker``).

    Returns
    -------
    core : Tensor
        ``tensor`` with each decomposed mode n of size R_n.
    factors : list of Tensor (I_n, R_n)
        Orthonormal columns by decreasing singular value, signs fixed (largest entry
        positive), in the order of ``modes``.
    """
    tensor = _check_tensor(tensor)
    modes = list(range(tensor.ndim)) if modes is None else [_check_mode(m, tensor.ndim, "modes entry") for m in modes]
    if len(set(modes)) != len(modes):
        raise InvalidInputError(f"modes must not repeat; got {tuple(modes)}")
    ranks = [None] * len(modes) if ranks is None else ranks
    ranks = _check_ranks(tuple(tensor.shape), ranks, modes, allow_none=True)
    factors = [leading_left_singular_vectors(unfold(tensor, m), r) for m, r in zip(modes, ranks)]
    core = multi_mode_dot(tensor, factors, modes, transpose=True)
    return core, factors


def tucker_to_tensor(core: torch.Tensor, factors: Sequence[torch.Tensor], modes: Sequence[int] | None = None) -> torch.Tensor:
    """The full tensor of a Tucker model: G ×_{m_0} U_0 ×_{m_1} U_1 … (default modes 0, 1, …)."""
    return multi_mode_dot(core, factors, modes)


# ------------------------------------------------------------------ MPCA
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
        Alternations made.
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

    def reconstruct(self, Z: torch.Tensor) -> torch.Tensor:
        """mean + (Z_i − mean) ×_n U_n U_nᵀ for every sample mode: Z (N, I_1, ..., I_d) -> same shape."""
        Z = _check_tensor(Z, "Z", 2)
        if tuple(Z.shape[1:]) != tuple(self.mean.shape):
            raise InvalidInputError(
                f"Z of shape (N, {', '.join(map(str, self.mean.shape))}) expected; got {tuple(Z.shape)}"
            )
        mean = self.mean.to(Z.dtype)
        X = Z - mean
        for mode, U in enumerate(self.factors):
            U = U.to(Z.dtype)
            X = mode_dot(mode_dot(X, U, mode + 1, transpose=True), U, mode + 1)
        return X + mean


def _project(X: torch.Tensor, factors: list, skip: int) -> torch.Tensor:
    """X (N, I_1, ..., I_d) ×_m U_mᵀ for every sample mode m != skip whose factor is not None
    and not square (a square orthonormal U_m only rotates mode m: every other mode's scatter
    and the total energy stay the same, so skipping it saves the costliest product at R = I)."""
    for mode, U in enumerate(factors):
        if mode != skip and U is not None and U.shape[0] != U.shape[1]:  # None: the mode is not projected (yet)
            X = mode_dot(X, U, mode + 1, transpose=True)
    return X


def mpca(Z: torch.Tensor, ranks: Sequence[int], *, center: bool = True, max_iter: int = 20, tol: float = 1e-9,
         init: Sequence[torch.Tensor] | None = None) -> MPCAResult:
    """Multilinear PCA of N sample tensors: orthonormal U_n maximising the projected scatter.

    Maximises Σ_i ‖(X_i − X̄) ×_1 U_1ᵀ … ×_d U_dᵀ‖² over orthonormal U_n (I_n, R_n) by
    alternating, for each mode n, U_n = the R_n leading eigenvectors of
    Σ_i Y_i(n) Y_i(n)ᵀ with Y_i = (X_i − X̄) projected on every other mode's factor, from
    the full-projection solution (Lu, Plataniotis & Venetsanopoulos, 2008, Algorithm 1).
    With ``center=False`` it is HOOI on the sample modes (TensorLy's ``partial_tucker``).

    Parameters
    ----------
    Z : Tensor (N, I_1, ..., I_d)
        Samples; (N, C, H, W) for the 3rd-order form, (N, C, S) for the unfoldings.
    ranks : sequence of d ints
        R_n in [1, I_n].
    center : bool
        Subtract the sample mean first (MPCA's definition).
    max_iter : int
        Alternations at most.
    tol : float
        Stop when the captured scatter grows by less than this (relative).
    init : sequence of d Tensors (I_n, R_n), optional
        Start from these orthonormal factors instead (a warm start, e.g. the full-rank
        factors of a previous fit truncated to ``ranks``).

    Returns
    -------
    MPCAResult
    """
    if not isinstance(Z, torch.Tensor) or Z.ndim < 3 or Z.shape[0] < 1:
        got = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        raise InvalidInputError(f"Z of shape (N, I_1, ..., I_d) with d >= 2 expected; got {got}")
    shape = tuple(Z.shape[1:])
    ranks = tuple(_check_ranks(shape, ranks, list(range(len(shape))), allow_none=False, what="sample mode"))
    check_int("max_iter", max_iter, low=0)
    X = Z.to(torch.float64)
    mean = X.mean(0) if center else torch.zeros_like(X[0])
    X = X - mean
    total = float((X**2).sum())
    if total == 0:
        raise InvalidInputError("Z has no scatter to capture (all samples equal their mean)")

    def leading(mode: int, factors: list) -> torch.Tensor:
        Y = torch.movedim(_project(X, factors, mode), mode + 1, 0).reshape(shape[mode], -1)  # (I_n, N·rest)
        return channel_basis(Y @ Y.T, ranks[mode])  # leading eigenvectors, fixed signs; one GEMM, not an einsum

    if init is None:
        factors = [leading(m, [None] * len(ranks)) for m in range(len(ranks))]  # full projection
    else:
        factors = [torch.as_tensor(U).to(device=X.device, dtype=X.dtype) for U in init]
        if [tuple(U.shape) for U in factors] != [(s, r) for s, r in zip(shape, ranks)]:
            raise InvalidInputError(
                f"init must hold one factor (I_n, R_n) per mode: {[(s, r) for s, r in zip(shape, ranks)]}; "
                f"got {[tuple(U.shape) for U in factors]}"
            )
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
