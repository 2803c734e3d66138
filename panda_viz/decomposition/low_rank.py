"""Low-rank approximations of one set of feature maps by truncated HOSVD, MPCA and PandA, by ranks.

The lesson on tensor decompositions and :class:`panda_viz.widgets.RankExplorer` ask the
same question again and again: with channel rank R_C and spatial rank R_S, how well does
each model reconstruct the features Z_i (C x S), and what do its spatial factors look
like? :class:`LowRankApproximations` answers it for the three models, caching what can be
cached so that moving a rank is cheap:

- **truncated HOSVD** (Tucker-2 on the channel and spatial modes of the C x S x N tensor):
  Ẑ_i = U_C U_Cᵀ Z_i U_S U_Sᵀ. One full HOSVD gives every truncation, and its core's
  energies give the error of every (R_C, R_S) at once (:meth:`LowRankApproximations.hosvd_errors`);
- **MPCA** on the unfoldings Z_i (centred): Ẑ_i = Z̄ + U_C U_Cᵀ (Z_i − Z̄) U_S U_Sᵀ with
  alternated factors, warm-started from the centred HOSVD; fitted once per rank pair;
- **PandA**: Ẑ_i = A Aᵀ Z_i P Pᵀ with P ≥ 0; fitted once per rank pair.

Errors are relative squared errors on the N samples, Σ_i ‖Z_i − Ẑ_i‖² / Σ_i ‖Z_i‖², PandA's
relative objective, so the three are comparable.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .._checks import check_choice, check_int, is_int
from ..exceptions import ConvergenceWarning, InvalidInputError, InvalidTypeError
from ..runtime.progress import progress
from .estimator import PandA
from .tensor import hosvd, mpca

__all__ = ["METHODS", "METHOD_NAMES", "Approximation", "LowRankApproximations"]

#: The models, by the key the methods take.
METHODS = ("hosvd", "mpca", "panda")
#: How each is called in text.
METHOD_NAMES = {"hosvd": "truncated HOSVD", "mpca": "MPCA", "panda": "PandA (P ≥ 0)"}
#: warnings.catch_warnings swaps the process's global filter list and is not thread-safe:
#: the RankExplorer's background sweep and the UI can fit at once, so their quiet fits take turns
_QUIET_FIT = threading.Lock()


@dataclass
class Approximation:
    """One fitted low-rank model of the features.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    ranks : tuple (R_C, R_S)
    error : float
        Σ_i ‖Z_i − Ẑ_i‖² / Σ_i ‖Z_i‖² on the samples it was fitted on.
    spatial_factors : Tensor (R_S, H, W)
        U_S's columns (HOSVD, MPCA: orthonormal, any sign) or the parts P (PandA: ≥ 0).
    channel_factors : Tensor (C, R_C)
        U_C or the appearances A.
    mean : Tensor (C, H, W)
        What is added back (MPCA's sample mean; zeros otherwise).
    """

    method: str
    ranks: tuple[int, int]
    error: float
    spatial_factors: torch.Tensor
    channel_factors: torch.Tensor
    mean: torch.Tensor

    def reconstruct(self, Z: torch.Tensor) -> torch.Tensor:
        """Ẑ = mean + U_C U_Cᵀ (Z − mean) P Pᵀ for features Z (n, C, H, W); returns (n, C, H, W)."""
        if not isinstance(Z, torch.Tensor) or Z.ndim != 4 or tuple(Z.shape[1:]) != tuple(self.mean.shape):
            got = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
            raise InvalidInputError(f"features of shape (n, {', '.join(map(str, self.mean.shape))}) expected; got {got}")
        A = self.channel_factors.to(device=Z.device, dtype=Z.dtype)
        P = self.spatial_factors.flatten(1).T.to(device=Z.device, dtype=Z.dtype)
        mean = self.mean.to(device=Z.device, dtype=Z.dtype)
        X = (Z - mean).flatten(2)
        return (A @ (A.T @ X @ P) @ P.T).reshape(Z.shape) + mean


class LowRankApproximations:
    """Truncated HOSVD, MPCA and PandA of feature maps Z, fitted lazily and cached by (R_C, R_S).

    Parameters
    ----------
    Z : Tensor (N, C, H, W)
        The features (N ≥ 1; float32 or float64, any device: the work is done in float64
        on Z's device, results come back on the CPU).
    random_state : int
        Seeds PandA's initialisation of P.
    panda_max_iter : int
        Parts iterations per PandA fit (a lesson wants a picture in well under a second;
        ``ConvergenceWarning`` is silenced and the fit's error is what is reported).
    mpca_max_iter : int
        MPCA alternations per fit (from the HOSVD warm start, a few suffice).

    Attributes
    ----------
    feature_shape : tuple (C, H, W)
    n_samples : int
    energy : float
        Σ_i ‖Z_i‖².

    Examples
    --------
    >>> approx = LowRankApproximations(G.features(G.sample_latents(256, seed=0), "main.5"))
    >>> approx.get("panda", 256, 8).error          # fits once, then cached
    >>> approx.hosvd_errors()[31, 7]               # HOSVD error at R_C = 32, R_S = 8
    """

    def __init__(self, Z: torch.Tensor, *, random_state: int = 0, panda_max_iter: int = 200,
                 mpca_max_iter: int = 5) -> None:
        if not isinstance(Z, torch.Tensor):
            raise InvalidTypeError(f"Z must be a torch.Tensor of shape (N, C, H, W); got {type(Z).__name__}")
        if Z.ndim != 4 or min(Z.shape) < 1:
            raise InvalidInputError(f"Z of shape (N, C, H, W) with every size >= 1 expected; got {tuple(Z.shape)}")
        if not torch.isfinite(Z).all():
            raise InvalidInputError("Z has non-finite values (NaN or inf)")
        check_int("panda_max_iter", panda_max_iter, low=1)
        check_int("mpca_max_iter", mpca_max_iter, low=1)
        # a seed, not a generator: every fit starts from it, so each (R_C, R_S) is repeatable
        check_int("random_state", random_state, low=0, high=2**63 - 1)
        self.Z = Z
        N, C, H, W = Z.shape
        self.feature_shape = (C, H, W)
        self.n_samples = N
        self.random_state = int(random_state)
        self.panda_max_iter = panda_max_iter
        self.mpca_max_iter = mpca_max_iter
        z = Z.detach().to(torch.float64).flatten(2)                    # (N, C, S)
        self.energy = float((z**2).sum())
        if self.energy == 0:
            raise InvalidInputError("Z is all zeros: there is nothing to approximate")
        self._z = z
        self._cache: dict[tuple[str, int, int], Approximation] = {}
        self._hosvd: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._centred: tuple[torch.Tensor, list, float] | None = None
        # a background sweep and the widget share the cache: a lock for it (held only to read or
        # write it), one per lazy decomposition (held while it is computed), and one Event per
        # fit under way so a key is never fitted twice at once
        self._lock = threading.Lock()
        self._hosvd_lock, self._centred_lock = threading.Lock(), threading.Lock()
        self._pending: dict[tuple[str, int, int], threading.Event] = {}

    # ------------------------------------------------------------------ ranks
    def check_ranks(self, method: str, r_c, r_s) -> tuple[int, int]:
        """``(r_c, r_s)`` as ints, or an :class:`InvalidInputError` saying what is possible.

        A bad R_C or R_S is always an :class:`InvalidInputError`, a non-integer too (``2.0``),
        so a control that takes what a user typed catches one class; an unknown method is
        one too (with the near misses; a method that is not a string is an InvalidTypeError).
        """
        check_choice("method", method, METHODS)
        C, H, W = self.feature_shape
        for name, value, size, what in (("R_C", r_c, C, "channels C"), ("R_S", r_s, H * W, "positions S = H·W")):
            if not (is_int(value) and 1 <= value <= size):
                raise InvalidInputError(
                    f"{name} must be an int in [1, {size}] (the layer has {size} {what}); got {value!r}"
                )
        return int(r_c), int(r_s)

    # ------------------------------------------------------------------ HOSVD
    def _full_hosvd(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """U_C (C, C), U_S (S, S) of the C x S x N tensor and the energy table of its core."""
        if self._hosvd is not None:  # set once, never changed: no lock needed to read it
            return self._hosvd
        with self._hosvd_lock:
            return self._full_hosvd_locked()

    def _full_hosvd_locked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._hosvd is None:
            tensor = self._z.permute(1, 2, 0)                              # (C, S, N)
            core, (U_c, U_s) = hosvd(tensor, modes=(0, 1))
            energies = (core**2).sum(-1)                                   # (C, S): energy of core[a, b, :]
            self._hosvd = (U_c, U_s, energies.cumsum(0).cumsum(1))
        return self._hosvd

    def hosvd_errors(self) -> torch.Tensor:
        """Errors of every truncated HOSVD: a (C, S) table, entry [r_c − 1, r_s − 1].

        The factors are orthonormal, so the captured energy of ranks (r_c, r_s) is that of
        the core's top-left r_c x r_s block.
        """
        captured = self._full_hosvd()[2]
        return (1 - captured / self.energy).clamp_min(0).cpu()

    # ------------------------------------------------------------------ fits
    def _fit_hosvd(self, r_c: int, r_s: int) -> Approximation:
        U_c, U_s, _ = self._full_hosvd()
        error = float(self.hosvd_errors()[r_c - 1, r_s - 1])
        return self._approximation("hosvd", r_c, r_s, error, U_c[:, :r_c], U_s[:, :r_s], None)

    def _centred_hosvd(self) -> tuple[torch.Tensor, list, float]:
        with self._centred_lock:
            if self._centred is None:
                mean = self._z.mean(0)
                # MPCA's full-projection start: the HOSVD of the centred tensor (computed once)
                _, factors = hosvd((self._z - mean).permute(1, 2, 0), modes=(0, 1))
                self._centred = (mean, factors, float(((self._z - mean) ** 2).sum()))
            return self._centred

    def _fit_mpca(self, r_c: int, r_s: int) -> Approximation:
        mean, (U_c, U_s), scatter = self._centred_hosvd()
        if scatter == 0:  # one sample (or identical ones): the mean is the whole model
            result_factors, captured = [U_c[:, :r_c], U_s[:, :r_s]], 1.0
        else:
            result = mpca(self._z, (r_c, r_s), init=[U_c[:, :r_c], U_s[:, :r_s]], max_iter=self.mpca_max_iter)
            result_factors, captured = result.factors, result.captured
        error = (1 - captured) * scatter / self.energy
        return self._approximation("mpca", r_c, r_s, error, result_factors[0], result_factors[1], mean)

    def _fit_panda(self, r_c: int, r_s: int) -> Approximation:
        C = self.feature_shape[0]
        model = PandA(n_parts=r_s, n_appearances=None if r_c == C else r_c, n_restarts=1,
                      max_iter=self.panda_max_iter, random_state=self.random_state, verbose=False)
        with _QUIET_FIT, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a lesson shows the error it reached
            model.fit(self.Z)
        return self._approximation("panda", r_c, r_s, float(model.objective_), model.appearances_,
                                   model.parts_.flatten(1).T, None)

    def _approximation(self, method, r_c, r_s, error, U_c, U_s, mean) -> Approximation:
        C, H, W = self.feature_shape
        return Approximation(
            method=method, ranks=(r_c, r_s), error=float(error),
            spatial_factors=U_s.T.reshape(r_s, H, W).to(device="cpu", dtype=torch.float32).contiguous(),
            channel_factors=U_c.to(device="cpu", dtype=torch.float32).contiguous(),
            mean=(torch.zeros(C, H, W) if mean is None else mean.reshape(C, H, W).to(device="cpu", dtype=torch.float32)),
        )

    def get(self, method: str, r_c: int, r_s: int) -> Approximation:
        """The ``method`` model with ranks (r_c, r_s): fitted on first use, then from the cache.

        Safe to call from several threads: a rank pair another thread is fitting is waited
        for, not fitted again.
        """
        r_c, r_s = self.check_ranks(method, r_c, r_s)
        key = (method, r_c, r_s)
        while True:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
                waiting = self._pending.get(key)
                if waiting is None:
                    done = self._pending[key] = threading.Event()
            if waiting is None:
                break
            waiting.wait()  # the other thread's fit; if it failed, the loop fits it here
        try:
            fit = {"hosvd": self._fit_hosvd, "mpca": self._fit_mpca, "panda": self._fit_panda}[method](r_c, r_s)
            with self._lock:
                self._cache[key] = fit
            return fit
        finally:
            with self._lock:
                del self._pending[key]
            done.set()

    def is_cached(self, method: str, r_c: int, r_s: int) -> bool:
        """Whether :meth:`get` would answer without fitting."""
        with self._lock:
            return (method, r_c, r_s) in self._cache or method == "hosvd" and self._hosvd is not None

    def fitted_errors(self, method: str) -> dict[tuple[int, int], float]:
        """{(R_C, R_S): error} of the ``method`` models fitted so far."""
        with self._lock:
            items = sorted(self._cache.items())
        return {(rc, rs): a.error for (m, rc, rs), a in items if m == method}

    def precompute(self, method: str, ranks: Iterable[tuple[int, int]], *, show_progress: bool = True) -> None:
        """Fit ``method`` at each (R_C, R_S) of ``ranks`` now (a progress bar when ``show_progress``)."""
        ranks = [self.check_ranks(method, rc, rs) for rc, rs in ranks]
        for r_c, r_s in progress(ranks, total=len(ranks), enabled=show_progress and len(ranks) > 1,
                                 desc=f"{METHOD_NAMES[method]} fits", unit="fit"):
            self.get(method, r_c, r_s)
