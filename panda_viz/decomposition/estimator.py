"""The PandA estimator, scikit-learn style: :class:`PandA` stores what :func:`~.fitting.panda` returns.

The constructor takes :func:`~.fitting.panda`'s parameters (the same names, defaults and
order: :meth:`PandA.get_params` reads them off its signature); :meth:`PandA.fit` calls it
and keeps the result as fitted attributes ending in ``_``; :meth:`PandA.from_factors`
makes a fitted model of factors learnt elsewhere. Using the factors (``transform``,
``reconstruct``, ``score``, ``refine``) needs a fitted model, else a
:class:`~panda_viz.exceptions.NotFittedError`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch

from .._checks import check_choice, check_float, check_int
from ..exceptions import (
    IncompatibleFactorsError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    NotFittedError,
)
from ..runtime import distributed
from . import _refine
from ._validation import APPEARANCE_BASES, SOLVERS, FeatureSource, check_finite_features
from .fitting import PandAResult, panda
from .objectives import relative_objective
from .solver_result import CONVERGED_REASONS, STOP_REASONS

__all__ = ["PandA"]

_PARAMS = [name for name in inspect.signature(panda).parameters if name != "Z"]


class PandA:
    """Parts and appearances of a layer's feature maps (PandA, ICLR 2023), scikit-learn style.

    Parameters are those of :func:`~panda_viz.decomposition.fitting.panda` (which does the
    work; this class stores its result). Example::

        model = PandA(n_parts=8, random_state=0).fit(Z)           # Z (N, C, H, W)
        model.parts_            # (8, H, W) >= 0
        model.appearances_      # (C, C)
        model.transform(Z)      # (N, C, 8): Lambda_i = A^T Z_i P

    Factors fitted elsewhere (a saved file, the official release) become a model with
    :meth:`from_factors`.

    Attributes
    ----------
    parts_ : Tensor (n_parts, H, W), float32, CPU, >= 0
    appearances_ : Tensor (C, n_appearances), float32, CPU
    loss_history_ : list of float
        Relative objectives during the fit (projective: one per parts iteration plus one
        per alternation; pgd/adam: every max_iter/50 steps).
    n_iter_ : int
    objective_ : float
        Final Eq. 3 divided by sum_i ||Z_i||^2.
    feature_shape_ : tuple (C, H, W)
    n_samples_ : int
    layer_, generator_ : str or None
        The layer's module name and the generator's name given to :meth:`fit` as ``layer``
        and ``generator_name`` (recorded in saved factors under ``"layer"`` / ``"generator"``).
        ``generator_`` is the recorded name; an argument called ``generator`` is always a
        :class:`~panda_viz.generators.Generator`.
    solver_, appearance_basis_ : str
        What was used (pgd/adam always leave A free: ``appearance_basis_ = 'free'``).
    learning_rate_ : float or None
        The step size pgd/adam used.
    stop_reason_ : str or None
        Why the fit stopped, one of ``'tol'``, ``'max_iter'``, ``'alternations'``
        (projective), ``'steps'``, ``'collapsed'`` (pgd/adam); see
        :data:`~panda_viz.decomposition.solver_result.STOP_REASONS`. None when the factors
        came from :meth:`from_factors` without one.
    converged_ : bool or None
        Whether the fit stopped for the reason its solver aims at (``'tol'``, or pgd/adam's
        ``'steps'``); a fit that did not converge also raised a ConvergenceWarning.
        None when not recorded.
    timings_ : dict of str to float
        Seconds of the fit: ``'gram'`` (the Gram pass), ``'solve'`` (the solver, loss-history
        evaluations excluded), ``'objective'`` (pgd/adam's loss-history evaluations; 0 for
        the projective solver). Empty for :meth:`from_factors`.
    """

    def __init__(
        self,
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
    ) -> None:
        self.n_parts = n_parts
        self.n_appearances = n_appearances
        self.appearance_basis = appearance_basis
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_restarts = n_restarts
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def get_params(self) -> dict:
        """The constructor's parameters, by name."""
        return {name: getattr(self, name) for name in _PARAMS}

    def __repr__(self) -> str:
        defaults = {k: v.default for k, v in inspect.signature(PandA).parameters.items()}
        changed = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not defaults[k] and v != defaults[k])
        return f"PandA({changed})"

    # ------------------------------------------------------------------ fitting
    def fit(self, Z, *, layer: str | None = None, generator_name: str | None = None) -> PandA:
        """Fit on feature maps (N, C, H, W) or an iterable of batches; returns ``self``.

        ``layer`` and ``generator_name`` (names) are recorded as ``layer_`` / ``generator_``
        and saved with the factors.
        """
        result = panda(Z, **self.get_params())
        self._set_result(result, layer=layer, generator_name=generator_name)
        return self

    @classmethod
    def from_factors(
        cls,
        parts: torch.Tensor,
        appearances: torch.Tensor,
        *,
        feature_shape: tuple[int, int, int] | None = None,
        layer: str | None = None,
        generator_name: str | None = None,
        solver: str | None = None,
        appearance_basis: str | None = None,
        objective: float = math.nan,
        loss_history=(),
        n_iter: int = 0,
        n_samples: int = 0,
        learning_rate: float | None = None,
        stop_reason: str | None = None,
    ) -> PandA:
        """A fitted model from factors learnt elsewhere (a saved file, the official release).

        The constructor's parameters follow the factors (``n_parts``, ``n_appearances``,
        and ``solver`` / ``appearance_basis`` when given); everything else is recorded as
        the fitted attribute of the same name.

        Parameters
        ----------
        parts : Tensor (n_parts, H, W)
            Finite, >= 0 (kept as float32 on the CPU).
        appearances : Tensor (C, n_appearances)
            Finite (kept as float32 on the CPU).
        feature_shape : tuple (C, H, W), optional
            The layer's feature shape; default ``(appearances.shape[0], *parts.shape[1:])``.
            When given, the factors must match it.
        layer, generator_name : str, optional
            Recorded as ``layer_`` and ``generator_``.
        solver, appearance_basis : str, optional
            What fitted the factors (``solver_``, ``appearance_basis_``; None: unknown).
        objective : float
            Relative objective (``objective_``; NaN: unknown).
        loss_history : sequence of float
        n_iter, n_samples : int
        learning_rate : float, optional
        stop_reason : str, optional
            One of :data:`~panda_viz.decomposition.solver_result.STOP_REASONS`; sets
            ``converged_`` (None for both when not given).

        Returns
        -------
        PandA
            Fitted: ``transform``, ``reconstruct``, ``refine``, ``score`` and saving work.

        Raises
        ------
        InvalidTypeError
            Factors that are not floating-point tensors.
        ValueError
            :class:`~panda_viz.exceptions.InvalidInputError` for factors of the wrong
            number of dimensions, non-finite values or negative parts;
            :class:`~panda_viz.exceptions.IncompatibleFactorsError` for parts and
            appearances that disagree with ``feature_shape``; a ValueError naming the
            parameter for an unknown ``solver`` / ``appearance_basis`` / ``stop_reason``.
        """
        for name, tensor, ndim, shape in (("parts", parts, 3, "(n_parts, H, W)"), ("appearances", appearances, 2, "(C, n_appearances)")):
            if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
                got = f"a {tensor.dtype} tensor" if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                raise InvalidTypeError(f"PandA.from_factors: {name} must be a floating-point torch.Tensor {shape}; got {got}")
            if tensor.ndim != ndim or 0 in tensor.shape:
                raise InvalidInputError(f"PandA.from_factors: {name} must have shape {shape}; got {tuple(tensor.shape)}")
            if not bool(torch.isfinite(tensor).all()):
                raise NonFiniteError(f"PandA.from_factors: {name} must be finite; got NaN or Inf values")
        if bool((parts < 0).any()):
            raise InvalidInputError(f"PandA.from_factors: parts must be >= 0; got {int((parts < 0).sum())} negative entries")
        implied = (int(appearances.shape[0]), int(parts.shape[1]), int(parts.shape[2]))
        if feature_shape is not None and tuple(feature_shape) != implied:
            raise IncompatibleFactorsError(
                f"PandA.from_factors: parts {tuple(parts.shape)} and appearances {tuple(appearances.shape)} imply "
                f"features (C, H, W) = {implied}; got feature_shape={tuple(feature_shape)}"
            )
        if solver is not None:
            check_choice("solver", solver, SOLVERS)
        if appearance_basis is not None:
            check_choice("appearance_basis", appearance_basis, APPEARANCE_BASES)
        if stop_reason is not None:
            check_choice("stop_reason", stop_reason, STOP_REASONS)
        defaults = inspect.signature(cls).parameters
        model = cls(
            n_parts=int(parts.shape[0]),
            n_appearances=int(appearances.shape[1]),
            appearance_basis=appearance_basis or defaults["appearance_basis"].default,
            solver=solver or defaults["solver"].default,
        )
        result = PandAResult(
            parts=parts.to(device="cpu", dtype=torch.float32),
            appearances=appearances.to(device="cpu", dtype=torch.float32),
            loss_history=[float(x) for x in loss_history],
            n_iter=int(n_iter),
            objective=float(objective),
            feature_shape=implied,
            n_samples=int(n_samples),
            solver=solver,
            appearance_basis=appearance_basis,
            learning_rate=learning_rate,
            converged=None if stop_reason is None else stop_reason in CONVERGED_REASONS,
            stop_reason=stop_reason,
            timings={},
        )
        model._set_result(result, layer=layer, generator_name=generator_name)
        return model

    def _set_result(self, result: PandAResult, *, layer: str | None, generator_name: str | None) -> None:
        self.parts_ = result.parts
        self.appearances_ = result.appearances
        self.loss_history_ = result.loss_history
        self.n_iter_ = result.n_iter
        self.objective_ = result.objective
        self.feature_shape_ = tuple(result.feature_shape)
        self.n_samples_ = result.n_samples
        self.solver_ = result.solver
        self.appearance_basis_ = result.appearance_basis
        self.learning_rate_ = result.learning_rate
        self.converged_ = result.converged
        self.stop_reason_ = result.stop_reason
        self.timings_ = dict(result.timings)
        self.layer_ = layer
        self.generator_ = generator_name

    # -------------------------------------------------------------- applying
    def _check_fitted(self) -> None:
        if not hasattr(self, "parts_"):
            raise NotFittedError(
                "this PandA instance is not fitted yet: call fit(Z) first, or build one with PandA.from_factors"
            )

    def _factors_like(self, Z: torch.Tensor):
        return (
            self.appearances_.to(device=Z.device, dtype=Z.dtype),
            self.parts_.flatten(1).T.to(device=Z.device, dtype=Z.dtype),
        )

    def _check(self, Z, what="features") -> torch.Tensor:
        self._check_fitted()
        return check_finite_features(Z, expected=self.feature_shape_, what=what)

    def transform(self, Z: torch.Tensor) -> torch.Tensor:
        """Coefficients Lambda_i = A^T Z_i P: (N, C, H, W) -> (N, n_appearances, n_parts)."""
        Z = self._check(Z)
        A, P = self._factors_like(Z)
        return A.T @ Z.flatten(2) @ P

    def reconstruct(self, Z: torch.Tensor) -> torch.Tensor:
        """A A^T Z_i P P^T: (N, C, H, W) -> (N, C, H, W)."""
        Z = self._check(Z)
        A, P = self._factors_like(Z)
        return (A @ (A.T @ Z.flatten(2) @ P) @ P.T).reshape(Z.shape)

    def score(self, Z) -> float:
        """Relative objective (Eq. 3 / sum ||Z_i||^2) of these factors on other features."""
        self._check_fitted()
        source = FeatureSource(Z, expected=self.feature_shape_)
        A, P = self.appearances_.to(torch.float64), self.parts_.flatten(1).T.to(torch.float64)
        if source.tensor is not None:
            A, P = A.to(source.tensor.device), P.to(source.tensor.device)
        return relative_objective(source, A, P, reduce=distributed.reducer_for(Z))

    def refine(self, Z: torch.Tensor, *, proximity: float = 0.1, max_iter: int = 100, tol: float = 1e-7) -> torch.Tensor:
        """Sample-specific parts (Eq. 6) from the global parts, A fixed.

        Parameters
        ----------
        Z : Tensor (C, H, W), (1, C, H, W) or (N, C, H, W)
        proximity : float
            Weight of ||P~ - P||^2 relative to the sample's energy ||Z_i||^2 / n_parts
            (0: Eq. 6 alone, only the step budget anchors it).
        max_iter : int
            Step budget (default 100, the paper's timing).
        tol : float
            Stop earlier when the objective stalls.

        Returns
        -------
        Tensor (n_parts, H, W) for one sample, (N, n_parts, H, W) for N > 1; >= 0, float32,
        on Z's device.
        """
        self._check_fitted()
        single = isinstance(Z, torch.Tensor) and (Z.ndim == 3 or (Z.ndim == 4 and Z.shape[0] == 1))
        if isinstance(Z, torch.Tensor) and Z.ndim == 3:
            Z = Z[None]
        Z = self._check(Z)
        check_float("proximity", proximity, strict=False)
        check_int("max_iter", max_iter, low=1)
        check_float("tol", tol, strict=False)
        P = _refine.refine_parts(
            Z.flatten(2), self.appearances_, self.parts_.flatten(1).T, proximity=proximity, max_iter=max_iter, tol=tol
        )
        _, H, W = self.feature_shape_
        out = P.mT.reshape(Z.shape[0], self.n_parts_, H, W).to(torch.float32)
        return out[0] if single else out

    @property
    def n_parts_(self) -> int:
        self._check_fitted()
        return int(self.parts_.shape[0])

    @property
    def n_appearances_(self) -> int:
        self._check_fitted()
        return int(self.appearances_.shape[1])
