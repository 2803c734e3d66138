"""The default solver: projective semi-NMF in the parts P, with exact line search.

With A orthonormal (A^T A = I) the objective of Eq. 3 is

    f(P) = E - 2 tr(P^T M1 P) + tr(P^T M2 P P^T P),   P >= 0,

with E = sum_i ||Z_i||^2 and M1 = M2 = sum_i Z_i^T A A^T Z_i (S x S; M1 = M2 = M, the
spatial Gram, when A is a full basis). The free basis of :mod:`._free` gives the same
form with M1 = sum_i Z_i^T W Z_i, M2 = sum_i Z_i^T W^2 Z_i. Along any direction D,
f(P + tD) is a quartic polynomial in t whose five coefficients cost one S x S by S x K
product (M D; M P is carried along by linearity) and K x K blocks of [P D]^T [P D M P M D],
so each step is an *exact* line search: minimise the quartic over the t that keep
P + tD >= 0. t = 0 is always a candidate, hence no step increases f.

Each iteration takes
1. a projected-gradient direction D = max(0, P - eta grad) - P, with eta adapted from
   the previous step length (no learning rate to tune), line-searched exactly on
   t in [0, 1] (where P + tD >= 0 holds by construction);
2. an acceleration step along P_new - P_old (momentum, also line-searched exactly);
and several random restarts run together as one batch of small matrix products.
An optional proximity term rho ||P - P_anchor||^2 (refinement, Eq. 6) adds a quadratic
to the same quartic.

:func:`fit_projective` is the driver :func:`~panda_viz.decomposition.panda` calls: the
parts solve on the spatial Gram, alternated with the appearance steps of :mod:`._free`
when R_C < C or the basis is free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..runtime import distributed
from . import _free, _init
from ._grams import Grams
from ._validation import CHUNK, FeatureSource
from .solver_result import SolverResult

__all__ = ["PartsResult", "solve_parts", "parts_objective", "optimal_scale", "fit_projective", "MAX_OUTER"]

#: Alternations (appearance step + parts solve) at most, for R_C < C or the free basis.
MAX_OUTER = 100


@dataclass
class PartsResult:
    P: torch.Tensor  # (B, S, K) float64
    objective: torch.Tensor  # (B,) relative objective f / E
    history: list  # list of (B,) float64 numpy arrays, one per iteration (index 0: start)
    n_iter: int
    converged: bool


def _mm(M: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """M @ P for symmetric M (1 or B, S, S) and P (B, S, K): a shared M is one GEMM, not B broadcast copies."""
    if M.shape[0] == 1 and P.shape[0] > 1:
        B, S, K = P.shape
        # (P^T M)^T = M P: the rows of P^T stacked are one (B K, S) operand
        return (P.mT.reshape(B * K, S) @ M[0]).reshape(B, K, S).mT
    return M @ P


def _sym_inner(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Batched tr(X Y) for symmetric X, Y: sum of elementwise products, shape (B,)."""
    return (X * Y).sum(dim=(-2, -1))


def parts_objective(M1, M2, P, energy, rho=None, anchor=None):
    """f(P) of the module docstring, batched: (B,) float64."""
    G = P.mT @ P
    H1 = P.mT @ (_mm(M1, P))
    H2 = P.mT @ (_mm(M2, P))
    f = energy - 2 * torch.diagonal(H1, dim1=-2, dim2=-1).sum(-1) + _sym_inner(H2, G)
    if rho is not None:
        f = f + rho * ((P - anchor) ** 2).sum(dim=(-2, -1))
    return f


def _gradient(M1P, M2P, P, G, H2, rho=None, anchor=None):
    grad = -4 * M1P + 2 * M2P @ G + 2 * P @ H2
    if rho is not None:
        grad = grad + 2 * rho[:, None, None] * (P - anchor)
    return grad


def _quartic(P, D, M1P, M1D, M2P, M2D, energy, rho=None, anchor=None) -> np.ndarray:
    """Coefficients q0..q4 (B, 5) of t -> f(P + tD), from one batched product.

    M1P, M1D, M2P, M2D are M1 @ P, M1 @ D, M2 @ P, M2 @ D (the caller keeps M P up to date
    by linearity, so a line search costs one S x S product, M D). When M2 = M1 the caller
    passes the same tensors for both, and the M1 blocks are not formed twice.
    """
    K = P.shape[-1]
    same = M1P is M2P and M1D is M2D
    right = [P, D, M2P, M2D] if same else [P, D, M2P, M2D, M1P, M1D]
    # [P D]^T [P D M2P M2D (M1P M1D)]: every K x K block the coefficients need
    blocks = (torch.cat([P, D], dim=-1).mT @ torch.cat(right, dim=-1)).cpu().numpy()
    Gm, H2 = blocks[..., : 2 * K], blocks[..., 2 * K : 4 * K]
    H1 = H2 if same else blocks[..., 4 * K :]
    tr = lambda X: np.trace(X, axis1=-2, axis2=-1)  # noqa: E731
    inner = lambda X, Y: (X * Y).sum(axis=(-2, -1))  # noqa: E731  tr(X Y) for symmetric X, Y
    sym = lambda X: X + X.swapaxes(-1, -2)  # noqa: E731
    a, b, c = tr(H1[:, :K, :K]), 2 * tr(H1[:, :K, K:]), tr(H1[:, K:, K:])
    G0, G1, G2 = Gm[:, :K, :K], sym(Gm[:, :K, K:]), Gm[:, K:, K:]
    X0, X1, X2 = H2[:, :K, :K], sym(H2[:, :K, K:]), H2[:, K:, K:]
    q = np.stack(
        [
            energy - 2 * a + inner(X0, G0),
            -2 * b + inner(X0, G1) + inner(X1, G0),
            -2 * c + inner(X0, G2) + inner(X1, G1) + inner(X2, G0),
            inner(X1, G2) + inner(X2, G1),
            inner(X2, G2),
        ],
        axis=-1,
    )
    if rho is not None:
        R = P - anchor
        q[:, 0] += (rho * (R**2).sum(dim=(-2, -1))).cpu().numpy()
        q[:, 1] += (2 * rho * (R * D).sum(dim=(-2, -1))).cpu().numpy()
        q[:, 2] += (rho * (D**2).sum(dim=(-2, -1))).cpu().numpy()
    return q


def _argmin_quartic(q: np.ndarray, tmax: np.ndarray) -> np.ndarray:
    """Per row, the t in [0, tmax] minimising q0 + q1 t + ... + q4 t^4 (t = 0 on ties)."""
    B = q.shape[0]
    cands = [np.zeros(B), np.where(np.isfinite(tmax), tmax, 0.0)]
    lead = 4 * q[:, 4]
    ok = lead > 1e-300 * np.maximum(1.0, np.abs(q).max(axis=1))
    comp = np.zeros((B, 3, 3))
    safe = np.where(ok, lead, 1.0)
    comp[:, 0, 0] = -3 * q[:, 3] / safe
    comp[:, 0, 1] = -2 * q[:, 2] / safe
    comp[:, 0, 2] = -q[:, 1] / safe
    comp[:, 1, 0] = 1.0
    comp[:, 2, 1] = 1.0
    roots = np.linalg.eigvals(np.where(ok[:, None, None], comp, np.eye(3)))
    for j in range(3):
        cands.append(np.where(ok, np.clip(roots[:, j].real, 0.0, tmax), 0.0))
    # a degenerate (quadratic or lower) row: the vertex of the quadratic part
    quad = np.where(q[:, 2] > 0, -q[:, 1] / np.where(q[:, 2] > 0, 2 * q[:, 2], 1.0), 0.0)
    cands.append(np.where(ok, 0.0, np.clip(quad, 0.0, tmax)))
    T = np.stack(cands, axis=1)  # (B, n_cand)
    values = sum(q[:, k : k + 1] * T**k for k in range(5))
    best = np.argmin(values - values[:, :1] * 0, axis=1)
    # prefer t = 0 unless a candidate is strictly better (monotonicity under round-off)
    t = T[np.arange(B), best]
    no_gain = values[np.arange(B), best] >= values[:, 0]
    return np.where(no_gain, 0.0, t)


def _polyval(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """q0 + q1 t + ... + q4 t^4, per row."""
    return (((q[:, 4] * t + q[:, 3]) * t + q[:, 2]) * t + q[:, 1]) * t + q[:, 0]


def _max_step(P: torch.Tensor, D: torch.Tensor) -> np.ndarray:
    """Largest t with P + tD >= 0, per batch element (inf when D >= 0)."""
    ratio = torch.where(D < 0, P / (-D).clamp_min(1e-300), torch.full_like(P, float("inf")))
    return ratio.flatten(1).min(dim=1).values.cpu().numpy()


def optimal_scale(M1, M2, P):
    """The s >= 0 minimising f(sP) (without proximity): s^2 = tr(P^T M1 P) / tr(P^T M2 P P^T P)."""
    G = P.mT @ P
    num = torch.diagonal(P.mT @ (_mm(M1, P)), dim1=-2, dim2=-1).sum(-1)
    den = _sym_inner(P.mT @ (_mm(M2, P)), G)
    s2 = torch.where(den > 0, num.clamp_min(0) / den.clamp_min(1e-300), torch.ones_like(num))
    return torch.sqrt(s2)


def solve_parts(
    M1: torch.Tensor,
    M2: torch.Tensor | None,
    P0: torch.Tensor,
    energy: torch.Tensor,
    *,
    max_iter: int = 1000,
    tol: float = 1e-7,
    rescale: bool = True,
    rho: torch.Tensor | None = None,
    anchor: torch.Tensor | None = None,
    callback=None,
    window: int = 10,
    refresh: int = 50,
) -> PartsResult:
    """Minimise f(P) over P >= 0 for a batch of problems (restarts or samples).

    Parameters
    ----------
    M1, M2 : Tensor (B or 1, S, S), float64, symmetric
        ``M2=None`` means M2 = M1 (orthonormal A).
    P0 : Tensor (B, S, K), float64, >= 0
        Starting points (projected onto P >= 0 first).
    energy : Tensor (B,) or scalar
        E = sum_i ||Z_i||^2; objectives are reported relative to it.
    max_iter : int
        Iterations (each: one gradient step and one acceleration step).
    tol : float
        Stop when every problem's relative objective fell by less than ``tol`` per
        iteration on average over the last ``window`` iterations.
    rescale : bool
        Start from the optimal positive multiple of P0.
    rho, anchor : Tensor (B,), Tensor (B, S, K), optional
        Proximity term rho ||P - anchor||^2 (refinement).
    callback : callable, optional
        ``callback(iteration, relative_objectives (B,) numpy)`` after every iteration.
    window : int
        Iterations over which the drop is averaged for ``tol``.
    refresh : int
        Every ``refresh`` iterations M P is recomputed instead of carried by linearity.
    """
    same = M2 is None
    M2 = M1 if same else M2
    P = P0.clamp_min(0)
    B = P.shape[0]
    energy = torch.as_tensor(energy, dtype=P.dtype, device=P.device).expand(B)
    energy_np = energy.cpu().numpy()
    as_t = lambda x: torch.as_tensor(x, dtype=P.dtype, device=P.device)[:, None, None]  # noqa: E731
    if rescale:
        P = P * optimal_scale(M1, M2, P)[:, None, None]
    S, K = P.shape[1:]
    # step-size scale: 1 / (4 lambda_max(M2)) from a few power iterations
    v = torch.ones((M2.shape[0], S, 1), dtype=P.dtype, device=P.device)
    for _ in range(20):
        v = _mm(M2, v)
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)
    lam = (v.mT @ (_mm(M2, v))).flatten().clamp_min(1e-300)
    eta = (1.0 / (4 * lam)).expand(B).clone()
    if rho is not None:
        eta = 1.0 / (1.0 / eta + 2 * rho)

    def products(X):
        X1 = _mm(M1, X)
        return X1, (X1 if same else _mm(M2, X))

    # M @ P is kept up to date by linearity (M (P + tD) = MP + t MD): two S x S products
    # per iteration (M D and M E), M P refreshed every `refresh` iterations against drift
    M1P, M2P = products(P)
    f = parts_objective(M1, M2, P, energy, rho, anchor).cpu().numpy()
    history = [f / energy_np]
    P_old = None
    converged = False
    n_iter = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        if it % refresh == 0:
            M1P, M2P = products(P)
        PtX = P.mT @ torch.cat([P, M2P], dim=-1)  # (B, K, 2K): P^T P and P^T M2 P
        grad = _gradient(M1P, M2P, P, PtX[..., :K], PtX[..., K:], rho, anchor)
        D = (P - eta[:, None, None] * grad).clamp_min(0) - P
        M1D, M2D = products(D)
        q = _quartic(P, D, M1P, M1D, M2P, M2D, energy_np, rho, anchor)
        # P + tD = (1 - t) P + t max(0, P - eta grad) >= 0 for t in [0, 1]
        t = _argmin_quartic(q, np.ones(B))
        f_new = np.minimum(_polyval(q, t), f)  # t = 0 unless strictly better
        # adapt eta: a full step (t = 1) doubles it, a short one shrinks it
        factor = np.where(t >= 0.999, 2.0, np.clip(t, 0.1, 1.0))
        factor = np.where(t == 0, 0.25, factor)
        eta = eta * torch.as_tensor(factor, dtype=P.dtype, device=P.device)
        tt = as_t(t)
        P_new = (P + tt * D).clamp_min(0)
        M1P_new = M1P + tt * M1D
        M2P_new = M1P_new if same else M2P + tt * M2D
        if P_old is not None:
            # acceleration along E = P_new - P_old. M E is taken afresh, not as the difference
            # of the tracked M P's: their round-off, multiplied by a long step along a tiny E,
            # would grow without bound.
            E = P_new - P_old
            M1E, M2E = products(E)
            q = _quartic(P_new, E, M1P_new, M1E, M2P_new, M2E, energy_np, rho, anchor)
            tE = _argmin_quartic(q, np.minimum(_max_step(P_new, E), 1e3))
            f_next = np.minimum(_polyval(q, tE), f_new)
            tt = as_t(tE)
            P_next = (P_new + tt * E).clamp_min(0)
            M1P_next = M1P_new + tt * M1E
            M2P_next = M1P_next if same else M2P_new + tt * M2E
        else:
            P_next, M1P_next, M2P_next, f_next = P_new, M1P_new, M2P_new, f_new
        P_old = P
        P, M1P, M2P, f = P_next, M1P_next, M2P_next, f_next
        history.append(f / energy_np)
        if callback is not None:
            callback(it, history[-1])
        if it >= window:
            drop = (history[-1 - window] - history[-1]) / window
            if np.all(drop < tol):
                converged = True
                break
    # the reported objective is evaluated afresh, not carried through the line searches
    objective = parts_objective(M1, M2, P, energy, rho, anchor) / energy
    return PartsResult(P=P, objective=objective, history=history, n_iter=n_iter, converged=converged)


# ------------------------------------------------------------------------- the driver
def _settle(history: list[float], objective: float, new: float, tol: float) -> tuple[bool, float]:
    """Record an alternation's objective ``new``; whether the alternations have settled
    (improved by less than ``10 tol``) and the objective to carry on with (the lower one
    once settled)."""
    history.append(new)
    if objective - new < tol * 10:
        return True, min(objective, new)
    return False, new


def fit_projective(
    source: FeatureSource,
    grams: Grams,
    *,
    n_parts: int,
    n_appearances: int,
    init: str,
    appearance_basis: str,
    max_iter: int,
    tol: float,
    n_restarts: int,
    rng: torch.Generator,
    reduce: distributed.Reducer = distributed.LOCAL,
    callback=None,
) -> SolverResult:
    """The default fit: parts solves on the spatial Gram, alternated with exact appearance steps when needed.

    With R_C = C and the orthonormal basis (A A^T = I) one :func:`solve_parts` on M, the
    spatial Gram, is the whole fit. With R_C < C it alternates an exact eigen step for A
    (:func:`._free.eigen_step`) with parts solves; ``appearance_basis="free"`` then
    alternates exact Lyapunov steps in W = A A^T (:func:`._free.lyapunov_step`) with
    parts solves. Each alternation stops when the objective falls by less than
    ``10 tol``, or after :data:`MAX_OUTER` alternations.

    Parameters
    ----------
    source : FeatureSource
        The feature maps (re-read by each alternation's passes).
    grams : Grams
        Their Gram pass.
    n_parts, n_appearances : int
        R_S and R_C (already checked against the feature shape).
    init : {'hosvd', 'random'}
        A's starting point (:func:`._init.initial_appearances`).
    appearance_basis : {'orthonormal', 'free'}
    max_iter : int
        Iterations per parts solve.
    tol : float
        Stop a parts solve when the relative objective falls by less than ``tol`` per
        iteration (mean over 10).
    n_restarts : int
        Random starts of P solved together; the best is kept.
    rng : torch.Generator
        Draws the starts (and a random A).
    reduce : distributed.Reducer
        Completes the passes' sums across the processes of a group; rank 0's solves feed every rank.
    callback : callable, optional
        ``callback(iteration, relative_objective)`` after every parts iteration (the
        best restart's objective), iterations counted across solves.

    Returns
    -------
    SolverResult
        ``stop_reason`` ``"tol"``, ``"max_iter"`` or ``"alternations"``.
    """
    start = time.perf_counter()
    C, H, W = grams.feature_shape
    S = H * W
    K = n_parts
    R = n_appearances
    device = grams.spatial.device
    E = grams.energy
    history: list[float] = []
    n_iter = 0
    capped_solves = 0  # parts solves that stopped at max_iter before tol
    alternations_capped = False
    offset = [0]

    def cb(it, rel):
        if callback is not None:
            callback(offset[0] + it, float(np.min(rel)))

    def solve(M1, M2, P0):
        nonlocal n_iter, capped_solves
        res = solve_parts(M1[None], None if M2 is None else M2[None], P0, E, max_iter=max_iter, tol=tol, callback=cb)
        # the first restart within round-off of the best (restarts often tie, e.g. with the
        # parts permuted): the choice must not flip on float64 noise in M
        obj = res.objective
        best = int(torch.nonzero(obj <= obj.min() + 1e-9 * obj.min().abs()).flatten()[0])
        history.extend(float(h[best]) for h in res.history[1:])
        n_iter += res.n_iter
        offset[0] += res.n_iter
        if not res.converged:
            capped_solves += 1
        # every rank solved the same problem; rank 0's answer feeds the next data pass on
        # all of them, so ranks on unlike hardware cannot drift apart
        (P_best,) = reduce.broadcast(res.P[best], what="parts solve")
        return P_best, float(res.objective[best])

    A = _init.initial_appearances(grams, R, init, rng)
    P0 = _init.random_parts(n_restarts, S, K, rng=rng, device=device)
    if R == C:
        # A A^T = I: Eq. 3 depends on the data through M alone
        P, obj = solve(grams.spatial, None, P0)
    else:
        P, obj = None, float("inf")
        for outer in range(MAX_OUTER):
            M1, _ = _free.pass_appearance_grams(source, A, None, chunk=CHUNK, reduce=reduce)
            P, new = solve(M1, None, P0 if P is None else P[None])
            B, Cm = _free.pass_parts_statistics(source, P, chunk=CHUNK, reduce=reduce)
            (A,) = reduce.broadcast(_free.eigen_step(2 * B - Cm, R), what="appearance step")
            new = 1 - float(torch.trace(A.T @ (2 * B - Cm) @ A)) / E
            settled, obj = _settle(history, obj, new, tol)
            if settled:
                break
        else:
            alternations_capped = True
    if appearance_basis == "free":
        U = None if R == C else A
        L = A
        for outer in range(MAX_OUTER):
            B, Cm = _free.pass_parts_statistics(source, P, chunk=CHUNK, reduce=reduce)
            L_new, w = reduce.broadcast(*_free.lyapunov_step(B, Cm, U), what="appearance step")
            W = L_new @ L_new.T
            after_w = (E - 2 * float((W * B).sum()) + float((W @ Cm * W).sum())) / E
            if after_w > obj:  # round-off: keep the previous basis
                break
            L = L_new
            M1, M2 = _free.pass_appearance_grams(source, L, w, chunk=CHUNK, reduce=reduce)
            P, new = solve(M1, M2, P[None])
            settled, obj = _settle(history, obj, new, tol)
            if settled:
                break
        else:
            alternations_capped = True
        A = L
    stop_reason = "alternations" if alternations_capped else "max_iter" if capped_solves else "tol"
    return SolverResult(
        appearances=A,
        parts=P,
        n_iter=n_iter,
        loss_history=tuple(history),
        objective=obj,
        stop_reason=stop_reason,
        capped_solves=capped_solves,
        learning_rate=None,
        timings={"solve": time.perf_counter() - start, "objective": 0.0},
    )
