"""Robust PCA (principal component pursuit) by ADMM, as LowRankGAN's official code runs it.

Robust PCA splits a matrix into a low-rank part and a sparse part,

    minimise ‖L‖_* + λ ‖S‖_1   subject to   L + S = M,

and LowRankGAN (Zhu et al., NeurIPS 2021) applies it to M = JᵀJ / n of an image region.
:func:`robust_pca` is the iteration of the official ``RobustPCA.py`` (github.com/zhujiapeng/LowRankGAN,
class ``RobustPCA``, its ``fit``), with its defaults:

- S = L = Λ = 0 at the start;
- μ = d₁d₂ / (4 ‖M‖₁), where ‖M‖₁ is what ``np.linalg.norm(M, ord=1)`` computes for a
  matrix: the largest absolute **column sum** (the induced 1-norm; Candès et al.'s paper
  uses the entrywise sum; this follows the code);
- λ = 1/60 (``compute_directions.py`` passes ``lamb=1/args.lamb`` with ``--lamb 60``; a
  ``lam`` of None is the class's own fallback 1/√max(d₁, d₂));
- each iteration: L = D_{1/μ}(M − S − Λ/μ) (singular values soft-thresholded by 1/μ),
  S = shrink_{λ/μ}(M − L − Λ/μ) (entries soft-thresholded), Λ = Λ + μ (L + S − M);
- it stops when ‖L + S − M‖_F ≤ 10⁻⁷ ‖M‖_F or after 10,000 iterations, whichever comes first.

Two solvers run that same iteration (``solver=``):

``"svd"``
    The official iteration as written: a full SVD of M − S − Λ/μ every iteration. Any
    real matrix.
``"eigh"`` (default)
    The same iterates, computed faster, for symmetric M (LowRankGAN's M = JᵀJ / n always
    is). If M is symmetric, every iterate is: S and Λ start at 0, soft-thresholding and
    sums keep symmetry, and the singular value thresholding of a symmetric matrix
    A = Q diag(e) Qᵀ is Q diag(sign(e) · max(|e| − τ, 0)) Qᵀ (its singular values are |e|,
    its singular vectors Q and Q·diag(sign e)), which is symmetric. So an eigendecomposition
    (``torch.linalg.eigh``, about half the work of the SVD) gives each L
    exactly, in exact arithmetic; L is then assembled from the r eigenpairs that survive the
    threshold only (d²r operations instead of d³). The stopping rule, μ, λ and the
    iteration count are the official ones, so it stops at the same iteration with the same
    L and S up to rounding (the iteration is non-expansive, so rounding differences do not
    grow). ``benchmarks/bench_lowrankgan.py`` runs both on the same matrices: the same
    iterations and ranks, directions equal to |cos| 1 − 1e-12, 1.7–2.1× faster on the
    DCGAN's 100-d matrices and 1.9× on 512-d ones. M is symmetrised, (M + Mᵀ)/2, once (a
    JᵀJ computed in floating point is symmetric only to rounding).

Warm starts (starting the iteration from an earlier solution) and an adaptive μ head for the
same minimiser along another trajectory, so they stop at another iterate than the official
one (which on the DCGAN's matrices stops after 2,000 to 7,000 iterations): they would not
give the official answer, and neither solver uses them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.functional import softshrink

from .._checks import check_choice, check_float, check_int
from ..exceptions import (
    ConvergenceWarning,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
)

__all__ = ["RobustPCAResult", "robust_pca", "check_robust_pca_options", "SOLVERS", "DEFAULT_LAMBDA", "DEFAULT_MAX_ITER", "DEFAULT_TOL"]

#: ``"eigh"``: the official iteration through eigendecompositions (symmetric M, the default);
#: ``"svd"``: the official iteration as written, one full SVD per iteration.
SOLVERS = ("eigh", "svd")
#: The official λ: ``compute_directions.py``'s ``--lamb 60`` passed as ``lamb=1/60``.
DEFAULT_LAMBDA = 1 / 60
#: The official ``--max_iter``.
DEFAULT_MAX_ITER = 10_000
#: The official stopping rule: ‖L + S − M‖_F ≤ tol · ‖M‖_F.
DEFAULT_TOL = 1e-7
#: How far from symmetric (relative, Frobenius) a matrix may be for ``solver="eigh"``.
SYMMETRY_TOL = 1e-10


@dataclass(frozen=True)
class RobustPCAResult:
    """The split M ≈ L + S that :func:`robust_pca` found, and how the iteration ended.

    Attributes
    ----------
    low_rank : Tensor (d₁, d₂), float64
        L.
    sparse : Tensor (d₁, d₂), float64
        S.
    n_iter : int
        Iterations run.
    converged : bool
        Whether ‖L + S − M‖_F met the tolerance (False: stopped at ``max_iter``, as the
        official code also does, silently).
    residual : float
        ‖L + S − M‖_F at the end.
    tolerance : float
        The stopping threshold, ``tol · ‖M‖_F``.
    mu : float
        The augmented-Lagrangian coefficient μ = d₁d₂ / (4 ‖M‖₁).
    lam : float
        λ, the weight of ‖S‖₁.
    solver : str
    """

    low_rank: torch.Tensor
    sparse: torch.Tensor
    n_iter: int
    converged: bool
    residual: float
    tolerance: float
    mu: float
    lam: float
    solver: str


def _shrink(x: torch.Tensor, tau: float) -> torch.Tensor:
    """Entrywise soft-thresholding sign(x) · max(|x| − τ, 0) (the official ``shrink``)."""
    return torch.sign(x) * torch.clamp(x.abs() - tau, min=0)


def check_robust_pca_options(*, lam: float | None, max_iter: int, tol: float, solver: str) -> float | None:
    """Validate :func:`robust_pca`'s options (before any work); returns ``lam`` as a float (None stays None).

    Raises
    ------
    InvalidInputError
        A λ that is not positive, a ``max_iter`` that is not a positive int, a negative
        ``tol``, an unknown ``solver``.
    """
    check_choice("solver", solver, SOLVERS)
    check_float("lam (official: 1/60; None: 1/√max(d₁, d₂))", lam, allow_none=True)
    check_int("max_iter (official: 10000)", max_iter, low=1)
    check_float("tol (official: 1e-7)", tol, strict=False)
    return None if lam is None else float(lam)


def _check_matrix(matrix, solver: str) -> torch.Tensor:
    if isinstance(matrix, np.ndarray):
        matrix = torch.from_numpy(matrix)
    if not isinstance(matrix, torch.Tensor):
        raise InvalidTypeError(f"matrix must be a torch.Tensor or numpy array (d₁, d₂); got {type(matrix).__name__}")
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise InvalidInputError(f"matrix of shape (d₁, d₂) expected; got {tuple(matrix.shape)}")
    if matrix.is_complex() or matrix.dtype == torch.bool:
        raise InvalidTypeError(f"a real matrix expected; got dtype {matrix.dtype}")
    matrix = matrix.detach().to(torch.float64)
    if not bool(torch.isfinite(matrix).all()):
        raise NonFiniteError("matrix holds NaN or infinite values; Robust PCA needs a finite matrix")
    if not bool(matrix.abs().sum() > 0):
        raise InvalidInputError("matrix is all zeros: μ = d₁d₂ / (4 ‖M‖₁) is undefined, and there is nothing to split")
    if solver == "eigh":
        d1, d2 = matrix.shape
        norm = float(torch.linalg.matrix_norm(matrix))
        if d1 != d2:
            raise InvalidInputError(
                f"solver='eigh' needs a symmetric matrix (LowRankGAN's JᵀJ / n); got a {d1}×{d2} matrix; "
                "pass solver='svd' (the official iteration, any matrix)"
            )
        asymmetry = float(torch.linalg.matrix_norm(matrix - matrix.T)) / norm
        if not asymmetry <= SYMMETRY_TOL:
            raise InvalidInputError(
                f"solver='eigh' needs a symmetric matrix (LowRankGAN's JᵀJ / n); got ‖M − Mᵀ‖_F / ‖M‖_F = "
                f"{asymmetry:.3g} (at most {SYMMETRY_TOL:g}); pass solver='svd' (the official iteration, any matrix)"
            )
    return matrix


def robust_pca(
    matrix: torch.Tensor | np.ndarray,
    *,
    lam: float | None = DEFAULT_LAMBDA,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    solver: str = "eigh",
    warn: bool = True,
) -> RobustPCAResult:
    """Split ``matrix`` into low-rank plus sparse by the official LowRankGAN ADMM iteration.

    Parameters
    ----------
    matrix : Tensor or ndarray (d₁, d₂)
        M, real and finite (read as float64). ``solver="eigh"`` needs it symmetric.
    lam : float or None
        λ, the weight of ‖S‖₁ (official: 1/60). None: 1/√max(d₁, d₂), the official class's
        fallback.
    max_iter : int
        Most iterations (official: 10,000).
    tol : float
        Stop when ‖L + S − M‖_F ≤ tol · ‖M‖_F (official: 1e-7).
    solver : {"eigh", "svd"}
        ``"eigh"`` (default): the same iteration through eigendecompositions, for symmetric
        M; ``"svd"``: the official iteration as written, a full SVD per iteration. Both
        give the same L and S up to rounding (see the module docstring for why).
    warn : bool
        Warn when ``max_iter`` is reached before the tolerance (``converged`` says it either way).

    Returns
    -------
    RobustPCAResult

    Warns
    -----
    ConvergenceWarning
        The residual did not meet the tolerance within ``max_iter`` iterations (the
        official code stops there too, without a word; the result is what it returns).

    Notes
    -----
    The loop makes up to ``max_iter`` decompositions of a d × d matrix, each too small for
    several threads to help: on a machine shared with other jobs, LAPACK's threads make each
    one several to tens of times slower (a 100 × 100 eigh took 26 ms with two threads on a
    loaded 2-core machine, under 3 ms with one). Call ``torch.set_num_threads(1)`` first
    there; ``benchmarks/bench_lowrankgan.py`` runs with one thread.
    """
    lam = check_robust_pca_options(lam=lam, max_iter=max_iter, tol=tol, solver=solver)
    M = _check_matrix(matrix, solver)
    d1, d2 = M.shape
    if lam is None:
        lam = 1 / math.sqrt(max(d1, d2))  # the official class's fallback for a falsy lamb
    if solver == "eigh":
        M = (M + M.T) / 2
    mu = d1 * d2 / (4 * float(torch.linalg.matrix_norm(M, ord=1)))
    mu_inv = 1 / mu
    tolerance = tol * float(torch.linalg.matrix_norm(M))
    S = torch.zeros_like(M)
    L = torch.zeros_like(M)
    Lam = torch.zeros_like(M)
    err = math.inf
    n_iter = 0
    while err > tolerance and n_iter < max_iter:
        if solver == "svd":  # RobustPCA.fit, line by line
            U, s, VH = torch.linalg.svd(M - S - mu_inv * Lam, full_matrices=False)
            L = U @ torch.diag(_shrink(s, mu_inv)) @ VH
            S = _shrink(M - L - mu_inv * Lam, mu_inv * lam)
            Lam = Lam + mu * (L + S - M)
            err = float(torch.linalg.matrix_norm(L + S - M))
        else:
            base = M - mu_inv * Lam
            e, Q = torch.linalg.eigh(base - S)
            keep = e.abs() > mu_inv  # the eigenpairs the threshold leaves non-zero
            Qr = Q[:, keep]
            L = (Qr * softshrink(e[keep], mu_inv)) @ Qr.T
            L = (L + L.T) / 2  # exactly symmetric, so S and Λ stay exactly symmetric too
            S = softshrink(base - L, mu_inv * lam)  # the official shrink, bit for bit, in one pass
            R = L + S - M
            Lam = Lam + mu * R
            err = float(torch.linalg.matrix_norm(R))
        n_iter += 1
    converged = err <= tolerance
    if warn and not converged:
        warnings.warn(
            f"Robust PCA stopped at max_iter={max_iter} with ‖L + S − M‖_F = {err:.3g} above its tolerance "
            f"{tolerance:.3g} ({tol:g}·‖M‖_F); the official LowRankGAN code stops there too and uses this L",
            ConvergenceWarning,
            stacklevel=2,
        )
    return RobustPCAResult(L, S, n_iter, converged, err, tolerance, mu, lam, solver)
