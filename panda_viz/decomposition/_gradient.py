"""The gradient driver: the paper's Algorithm 1 (:mod:`._pgd`) and its Adam variant (:mod:`._adam`).

Both run ``max_iter`` steps on mini-batches (random draws from a tensor, or the chunks of
a re-iterable stream), with a fixed step size, and evaluate the relative objective over
all the data every ``max_iter/50`` steps (the loss history).
"""

from __future__ import annotations

import time

import torch

from ..exceptions import NonFiniteError
from ..runtime.progress import progress as _progress
from . import _adam, _init, _pgd
from ._grams import Grams
from ._validation import CHUNK, FeatureSource
from .objectives import relative_objective
from .solver_result import SolverResult

__all__ = ["fit_gradient", "DEFAULT_ADAM_LR"]

DEFAULT_ADAM_LR = 1e-3


def _minibatches(source: FeatureSource, batch_size, rng):
    """Endless mini-batches (b, C, S): random draws from a tensor, or chunks of a re-iterable stream."""
    if source.tensor is not None:
        Z = source.tensor
        N = Z.shape[0]
        while True:
            if batch_size is None or batch_size >= N:
                yield Z.flatten(2)
            else:
                idx = torch.randint(N, (batch_size,), generator=rng).to(Z.device)
                yield Z[idx].flatten(2)
    while True:
        for batch in source.batches(CHUNK):
            z = batch.flatten(2)
            if batch_size is None:
                yield z
                continue
            for start in range(0, z.shape[0], batch_size):
                yield z[start : start + batch_size]


def fit_gradient(
    source: FeatureSource,
    grams: Grams,
    *,
    solver: str,
    n_parts: int,
    n_appearances: int,
    init: str,
    max_iter: int,
    learning_rate: float | None,
    batch_size: int | None,
    rng: torch.Generator,
    verbose: bool | None = None,
    callback=None,
) -> SolverResult:
    """Algorithm 1 (``solver="pgd"``) or Adam (``solver="adam"``): ``max_iter`` steps with A unconstrained.

    Parameters
    ----------
    source : FeatureSource
        The feature maps (a tensor, or a re-iterable stream).
    grams : Grams
        Their Gram pass (A's HOSVD start; pgd's default step size from lambda_max(M)).
    solver : {'pgd', 'adam'}
    n_parts, n_appearances : int
        R_S and R_C (already checked against the feature shape).
    init : {'hosvd', 'random'}
    max_iter : int
        Steps.
    learning_rate : float or None
        None: pgd's data-scaled 1 / (32 b lambda_max(M) / N), adam's 1e-3.
    batch_size : int or None
        Samples per step; None: the full gradient.
    rng : torch.Generator
        Draws P's start, a random A and the mini-batches.
    verbose : bool or None
        The steps' progress bar.
    callback : callable, optional
        ``callback(step, relative_objective)`` after each loss-history evaluation.

    Returns
    -------
    SolverResult
        ``stop_reason`` ``"steps"``, or ``"collapsed"`` when no entry of P is positive.

    Raises
    ------
    NonFiniteError
        When the factors stop being finite (a learning rate too large); a ValueError.
    """
    start = time.perf_counter()
    evaluating = 0.0  # seconds of loss-history evaluations
    C, H, W = grams.feature_shape
    S = H * W
    K = n_parts
    R = n_appearances
    dtype = grams.dtype
    device = grams.device
    A = _init.initial_appearances(grams, R, init, rng).to(dtype)
    P = _init.random_parts(1, S, K, rng=rng, device=device, dtype=dtype)[0]
    b = grams.n_samples if batch_size is None else min(batch_size, grams.n_samples)
    if learning_rate is not None:
        lr = learning_rate
    elif solver == "pgd":
        lam = float(torch.linalg.eigvalsh(grams.spatial)[-1]) / grams.n_samples
        lr = 1.0 / (32 * b * lam)
    else:
        lr = DEFAULT_ADAM_LR
    if solver == "adam":
        state = _adam.AdamState(A, P, lr)
    every = max(1, max_iter // 50)
    history = []
    batches = _minibatches(source, batch_size, rng)
    steps = _progress(range(max_iter), enabled=verbose, n_samples=max_iter * b // 10, desc=solver, unit="step")
    with torch.no_grad():
        for t in steps:
            z = next(batches).to(device=device, dtype=dtype)
            if solver == "pgd":
                A, P = _pgd.pgd_step(z, A, P, lr)
            else:
                state.step(z)
            if (t + 1) % every == 0 or t + 1 == max_iter:
                A_, P_ = (A, P) if solver == "pgd" else (state.A.detach(), state.P.detach())
                if not (torch.isfinite(A_).all() and torch.isfinite(P_).all()):
                    raise NonFiniteError(
                        f"solver {solver!r} diverged at iteration {t + 1} with learning_rate={lr:g}; use a smaller one"
                    )
                evaluation = time.perf_counter()
                history.append(relative_objective(source, A_, P_, energy=grams.energy))
                evaluating += time.perf_counter() - evaluation
                if callback is not None:
                    callback(t + 1, history[-1])
    if solver == "adam":
        A, P = state.A.detach(), state.P.detach()
    # a step too long for the data projects every entry of P below zero: P = 0, the
    # trivial solution (relative objective 1), which no further step leaves
    collapsed = not (P > 0).any()
    return SolverResult(
        appearances=A,
        parts=P,
        n_iter=max_iter,
        loss_history=tuple(history),
        objective=history[-1],
        stop_reason="collapsed" if collapsed else "steps",
        learning_rate=lr,
        timings={"solve": time.perf_counter() - start - evaluating, "objective": evaluating},
    )
