"""The fit itself: :func:`panda` turns feature maps into parts and appearances in canonical form.

:func:`panda` validates its arguments, runs the Gram pass, hands the fit to a solver
driver (:func:`._projective.fit_projective` or :func:`._gradient.fit_gradient`, each
returning a :class:`~.solver_result.SolverResult`), raises the ConvergenceWarning its stop
reason calls for, and puts the factors in canonical form. The scikit-learn-style class
that stores its result is :class:`~panda_viz.decomposition.estimator.PandA`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._checks import as_rng
from ..exceptions import ConvergenceWarning, InvalidInputError
from ..runtime import distributed
from . import _projective
from ._gradient import fit_gradient
from ._grams import accumulate_grams
from ._projective import fit_projective
from ._validation import (
    CHUNK,
    FeatureSource,
    check_params,
    check_ranks,
    projective_max_iter,
)
from .solver_result import SolverResult

__all__ = ["panda", "PandAResult"]


@dataclass
class PandAResult:
    """What :func:`panda` returns.

    :class:`~panda_viz.decomposition.estimator.PandA` keeps the same fields as fitted attributes.
    """

    parts: torch.Tensor  # (n_parts, H, W) float32, CPU
    appearances: torch.Tensor  # (C, n_appearances) float32, CPU
    loss_history: list = field(default_factory=list)
    n_iter: int = 0
    objective: float = float("nan")
    feature_shape: tuple = ()
    n_samples: int = 0
    solver: str = ""
    appearance_basis: str = ""
    learning_rate: float | None = None
    converged: bool | None = True
    #: why the fit stopped, one of ``solver_result.STOP_REASONS`` (None: not recorded)
    stop_reason: str | None = None
    #: seconds: ``"gram"`` (the Gram pass), ``"solve"``, ``"objective"`` (loss-history passes)
    timings: dict = field(default_factory=dict)


def _canonical_order(P: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """Columns of P by decreasing energy p_k^T M p_k (the order of the parts is otherwise arbitrary)."""
    P64 = P.to(device=M.device, dtype=torch.float64)
    energy = ((M @ P64) * P64).sum(0)
    return P[:, torch.argsort(energy.cpu(), descending=True, stable=True).to(P.device)]


def panda(
    Z,
    n_parts: int = 8,
    n_appearances: int | None = None,
    *,
    appearance_basis: str = "orthonormal",
    solver: str = "projective",
    init: str = "hosvd",
    max_iter: int | None = None,
    tol: float = 1e-6,
    learning_rate: float | None = None,
    batch_size: int | None = 1,
    n_restarts: int = 4,
    random_state: int | torch.Generator | None = None,
    verbose: bool | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> PandAResult:
    """Learn parts P >= 0 and appearances A from feature maps: min sum_i ||Z_i - A A^T Z_i P P^T||^2 (Eq. 3).

    Parameters
    ----------
    Z : Tensor (N, C, H, W), or an iterable of such batches
        A layer's feature maps (float32 or float64, CPU or CUDA). An iterable is streamed:
        memory holds one batch and a few C x C and S x S matrices (S = H*W), whatever N.
        Fits that need several passes (``n_appearances < C``, ``appearance_basis="free"``,
        ``"pgd"``, ``"adam"``) need a re-iterable (a list, a DataLoader), not a one-shot
        generator.
    n_parts : int
        R_S, the number of parts, in [1, S].
    n_appearances : int, optional
        R_C, in [1, C]; default C (a full basis, as the official code).
    appearance_basis : {'orthonormal', 'free'}
        For the projective solver: 'orthonormal' keeps A^T A = I (then A A^T Z is the
        projection of Z on span(A), and with R_C = C the data enter only through the
        spatial Gram M); 'free' leaves A unconstrained as Algorithm 1 does, starting from
        the orthonormal solution and alternating exact (Lyapunov) steps in W = A A^T with
        parts solves. 'pgd' and 'adam' are the paper's algorithms and always leave A
        unconstrained, whatever this says (as scikit-learn's solver-specific parameters).
    solver : {'projective', 'pgd', 'adam'}
        'projective' (the default): no learning rate, monotone, stops on ``tol``. 'pgd':
        Algorithm 1 exactly (the official recipe is ``batch_size=1, max_iter=10_000`` with
        a fixed ``learning_rate``). 'adam': the autograd + Adam variant of Sec. 4.3.3.
        (There is no 'auto': no data makes another solver the better default.)
    init : {'hosvd', 'random'}
        A from the leading eigenvectors of the channel scatter sum_i Z_i Z_i^T (Sec. 3.4),
        or a random orthonormal basis. P ~ U(0, 0.01) either way.
    max_iter : int, optional
        Projective: parts iterations per solve (default 1000 for up to 1024 spatial
        positions, 1000 more per further 1024: 2000 at 36×36 and 4000 at 64×64; see
        ``projective_max_iter`` in :mod:`panda_viz.decomposition._validation`). pgd/adam:
        iterations (default 10,000, the official recipe).
    tol : float
        Projective: stop when the relative objective falls by less than ``tol`` per
        iteration (mean over 10). Not used by pgd/adam, which run ``max_iter`` steps.
    learning_rate : float, optional
        pgd/adam only. pgd's default is 1 / (32 b lambda_max(M) / N) for mini-batches of b
        samples (lambda_max of the spatial Gram), a data-scaled step; adam's is 1e-3.
    batch_size : int or None
        pgd/adam: samples per step (official: 1); ``None`` descends the full gradient.
    n_restarts : int
        Projective: random starts of P solved together; the best is kept.
    random_state : int, torch.Generator or None
        Seeds P's initialisation, restarts and mini-batch draws (no global seed is touched).
    verbose : bool or None
        Progress bars of the Gram pass and of pgd/adam's steps: ``True`` always, ``False``
        never, ``None`` (default) for work over 1000 samples or more.
    callback : callable, optional
        ``callback(iteration, relative_objective)`` during the fit (benchmarks use it).

    Returns
    -------
    PandAResult
        ``parts`` (n_parts, H, W) >= 0 and ``appearances`` (C, n_appearances), float32 on
        the CPU; ``loss_history`` (relative objectives), ``n_iter``, ``objective``
        (Eq. 3 / sum_i ||Z_i||^2), ``feature_shape``, ``n_samples``, ``learning_rate``,
        ``stop_reason`` / ``converged`` and ``timings``.

    Warns
    -----
    ConvergenceWarning
        When the fit stopped short of what its solver aims at: a parts solve reached
        ``max_iter`` before ``tol``, the alternations reached their cap, or pgd/adam ended
        with all-zero parts.
    """
    p = check_params({k: v for k, v in locals().items() if k != "Z"})
    reduce = distributed.reducer_for(Z)
    if reduce.active and p["solver"] != "projective":
        raise InvalidInputError(
            f"solver {p['solver']!r} draws its own mini-batches and cannot run on samples sharded across "
            "processes; use solver='projective' (the default) inside a process group"
        )
    source = FeatureSource(Z)
    if source.feature_shape is not None:  # a tensor: refuse n_parts / n_appearances too large before the Gram pass
        check_ranks(p["n_parts"], p["n_appearances"], source.feature_shape)
    # a random_state of None inside a process group: one seed for every process, drawn on rank 0
    random_state = p["random_state"]
    rng = as_rng(random_state if isinstance(random_state, torch.Generator) else reduce.shared_seed(random_state))
    start = time.perf_counter()
    grams = accumulate_grams(source, batch_size=CHUNK, verbose=p["verbose"], reduce=reduce)
    gram_seconds = time.perf_counter() - start
    n_appearances = check_ranks(p["n_parts"], p["n_appearances"], grams.feature_shape)
    if not float(grams.energy) > 0:
        # every solver divides by the energy; a dead ReLU layer gives exactly this
        raise InvalidInputError(
            f"features are all zero ({grams.n_samples} samples of shape {grams.feature_shape}): there is nothing to "
            "factorise (a layer whose ReLUs are all inactive?); fit another layer"
        )
    if p["max_iter"] is None:  # the projective solver's default grows with the layer's size
        p["max_iter"] = projective_max_iter(grams.feature_shape[1] * grams.feature_shape[2])
    common = dict(n_parts=p["n_parts"], n_appearances=n_appearances, init=p["init"], max_iter=p["max_iter"], rng=rng,
                  callback=p["callback"])
    if p["solver"] == "projective":
        outcome = fit_projective(
            source, grams, appearance_basis=p["appearance_basis"], tol=p["tol"], n_restarts=p["n_restarts"], reduce=reduce, **common
        )
    else:
        outcome = fit_gradient(
            source, grams, solver=p["solver"], learning_rate=p["learning_rate"], batch_size=p["batch_size"], verbose=p["verbose"], **common
        )
    _warn_unless_converged(outcome, solver=p["solver"], max_iter=p["max_iter"], tol=p["tol"])
    # every process holds rank 0's factors (identical already, unless the processes' hardware differs)
    A, P = reduce.broadcast(outcome.appearances, outcome.parts, what="fitted factors")
    C, H, W = grams.feature_shape
    basis = p["appearance_basis"] if p["solver"] == "projective" else "free"
    P = _canonical_order(P, grams.spatial)
    return PandAResult(
        parts=P.T.reshape(p["n_parts"], H, W).to(device="cpu", dtype=torch.float32).clamp_min(0).contiguous(),
        appearances=A.to(device="cpu", dtype=torch.float32).contiguous(),
        loss_history=[float(h) for h in outcome.loss_history],
        n_iter=int(outcome.n_iter),
        objective=float(outcome.objective),
        feature_shape=grams.feature_shape,
        n_samples=grams.n_samples,
        solver=p["solver"],
        appearance_basis=basis,
        learning_rate=outcome.learning_rate,
        converged=outcome.converged,
        stop_reason=outcome.stop_reason,
        timings={"gram": gram_seconds, **outcome.timings},
    )


def _warn_unless_converged(outcome: SolverResult, *, solver: str, max_iter: int, tol: float) -> None:
    """The one place a fit's ConvergenceWarning is raised, from its stop reason (pointing at the caller of ``fit``)."""
    if outcome.capped_solves:
        warnings.warn(
            f"PandA(solver='projective') reached max_iter={max_iter} before tol={tol:g} "
            f"(relative objective {outcome.objective:.6f}); increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=4,
        )
    if outcome.stop_reason == "alternations":
        warnings.warn(
            f"PandA(solver='projective') made {_projective.MAX_OUTER} alternations between the appearance and parts "
            f"steps (n_appearances < C or appearance_basis='free') before tol={tol:g} "
            f"(relative objective {outcome.objective:.6f}); increase tol",
            ConvergenceWarning,
            stacklevel=4,
        )
    if outcome.stop_reason == "collapsed":
        # a step too long for the data projects every entry of P below zero: P = 0, the
        # trivial solution (relative objective 1), which no further step leaves
        warnings.warn(
            f"PandA(solver={solver!r}) collapsed to all-zero parts (relative objective {outcome.objective:.4f}) "
            f"with learning_rate={outcome.learning_rate:g}: use a smaller one, or the default solver, which needs none",
            ConvergenceWarning,
            stacklevel=4,
        )
