"""What every solver driver returns: the factors, the trace of the fit, why it stopped, and its timings."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..exceptions import InvalidInputError

__all__ = ["SolverResult", "STOP_REASONS", "CONVERGED_REASONS"]

#: Why a fit stopped. The projective solver: ``"tol"`` (the objective fell by less than
#: ``tol``), ``"max_iter"`` (a parts solve used all ``max_iter`` iterations first),
#: ``"alternations"`` (the appearance/parts alternation reached its cap first). Algorithm 1
#: and Adam: ``"steps"`` (they ran their ``max_iter`` steps, their only stopping rule), or
#: ``"collapsed"`` (they ended with all-zero parts, the trivial solution).
STOP_REASONS = ("tol", "max_iter", "alternations", "steps", "collapsed")
#: The stop reasons of a fit that did what its solver promises (no ConvergenceWarning).
CONVERGED_REASONS = ("tol", "steps")


@dataclass(frozen=True)
class SolverResult:
    """One solver driver's outcome (:func:`~._projective.fit_projective`, :func:`~._gradient.fit_gradient`).

    Attributes
    ----------
    appearances : Tensor (C, n_appearances)
        A, in the solver's working precision and device.
    parts : Tensor (S, n_parts)
        P as the solvers hold it (columns, S = H*W; not yet in canonical order, and not
        clamped: pgd/adam keep P >= 0 by projection, the projective solver by construction).
    n_iter : int
        Parts iterations over every solve (projective) or steps (pgd/adam).
    loss_history : tuple of float
        Relative objectives during the fit (projective: one per parts iteration plus one
        per alternation; pgd/adam: every max_iter/50 steps).
    objective : float
        The final relative objective, Eq. 3 / sum_i ||Z_i||^2.
    stop_reason : str
        One of :data:`STOP_REASONS`. With several reasons the cap wins: ``"alternations"``
        over ``"max_iter"`` over ``"tol"``.
    capped_solves : int
        Projective: parts solves that used all ``max_iter`` iterations before ``tol``
        (0 for pgd/adam). Non-zero whenever ``stop_reason`` is ``"max_iter"``, and possibly
        when it is ``"alternations"``.
    learning_rate : float or None
        The step size pgd/adam used; None for the projective solver.
    timings : dict of str to float
        Seconds: ``"solve"`` (the driver, objective evaluations excluded) and
        ``"objective"`` (evaluations of the loss history over the data; 0 for the
        projective solver, whose objectives come with its iterations).
    """

    appearances: torch.Tensor
    parts: torch.Tensor
    n_iter: int
    loss_history: tuple[float, ...]
    objective: float
    stop_reason: str
    capped_solves: int = 0
    learning_rate: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stop_reason not in STOP_REASONS:
            raise InvalidInputError(f"SolverResult: stop_reason must be one of {STOP_REASONS}; got {self.stop_reason!r}")

    @property
    def converged(self) -> bool:
        """Whether the fit stopped for the reason its solver aims at (see :data:`CONVERGED_REASONS`)."""
        return self.stop_reason in CONVERGED_REASONS
