"""The PandA estimator: the function :func:`panda` does the work, :class:`PandA` stores its result."""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .._progress import progress as _progress
from ..exceptions import ConvergenceWarning
from . import _adam, _free, _init, _pgd, _projective, _refine
from ._grams import Grams, accumulate_grams
from ._validation import (
    APPEARANCE_BASES,
    INITS,
    SOLVERS,
    FeatureSource,
    check_choice,
    check_features,
    check_float,
    check_int,
)

__all__ = ["PandA", "panda", "PandAResult", "fit_generator", "relative_objective"]

#: Samples per chunk when a tensor input is traversed (Gram and statistics passes).
CHUNK = 256
#: Default iterations: parts steps of the projective solver (per 1024 spatial positions,
#: see :func:`projective_max_iter`); steps of Algorithm 1 / Adam.
DEFAULT_MAX_ITER = {"projective": 1000, "pgd": 10_000, "adam": 10_000}
#: Alternations (appearance step + parts solve) at most, for R_C < C or the free basis.
MAX_OUTER = 100
DEFAULT_ADAM_LR = 1e-3


@dataclass
class PandAResult:
    """What :func:`panda` returns; :class:`PandA` keeps the same fields as fitted attributes."""

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
    converged: bool = True


# ---------------------------------------------------------------------------- helpers
def _validate(params: dict) -> dict:
    p = dict(params)
    check_int("n_parts", p["n_parts"], low=1)
    check_int("n_appearances", p["n_appearances"], low=1, allow_none=True)
    check_choice("appearance_basis", p["appearance_basis"], APPEARANCE_BASES)
    check_choice("solver", p["solver"], SOLVERS)
    check_choice("init", p["init"], INITS)
    check_int("max_iter", p["max_iter"], low=1, allow_none=True)
    check_float("tol", p["tol"], low=0.0, strict=False)
    check_float("learning_rate", p["learning_rate"], allow_none=True)
    check_int("batch_size", p["batch_size"], low=1, allow_none=True)
    check_int("n_restarts", p["n_restarts"], low=1)
    if p["random_state"] is not None and not isinstance(p["random_state"], torch.Generator):
        check_int("random_state", p["random_state"], low=0)
    if p["verbose"] is not None and not isinstance(p["verbose"], bool):
        raise TypeError(f"verbose must be True, False or None; got {p['verbose']!r}")
    if p["callback"] is not None and not callable(p["callback"]):
        raise TypeError(f"callback must be callable; got {type(p['callback']).__name__}")
    if p["solver"] == "auto":
        p["solver"] = "projective"
    if p["max_iter"] is None and p["solver"] != "projective":  # projective: from S, in _fit_projective
        p["max_iter"] = DEFAULT_MAX_ITER[p["solver"]]
    return p


def projective_max_iter(S: int) -> int:
    """The projective solver's default iteration budget for S spatial positions.

    1000 up to S = 1024 (32×32 layers); 1000 more per further 1024 positions. Larger S
    converge in more iterations: at StyleGAN3's 36×36 layers (S = 1296, 8 parts, 4
    restarts) solves took 650 to 1001 iterations to reach the default ``tol``.
    """
    return DEFAULT_MAX_ITER["projective"] * max(1, math.ceil(S / 1024))


def _check_ranks(n_parts: int, n_appearances: int | None, feature_shape) -> int:
    C, H, W = feature_shape
    S = H * W
    if n_parts > S:
        raise ValueError(f"n_parts must be in [1, S] with S = H*W = {H}*{W} = {S} spatial positions; got {n_parts}")
    if n_appearances is None:
        return C
    if n_appearances > C:
        raise ValueError(f"n_appearances must be in [1, C] with C = {C} channels; got {n_appearances}")
    return n_appearances


def _rng(random_state) -> torch.Generator:
    if isinstance(random_state, torch.Generator):
        return random_state
    import secrets

    seed = secrets.randbits(63) if random_state is None else int(random_state)
    return torch.Generator().manual_seed(seed)


def residual_minus_energy(z: torch.Tensor, A: torch.Tensor, P: torch.Tensor, AtA: torch.Tensor, PtP: torch.Tensor) -> torch.Tensor:
    """Σ_i ‖z_i − A L_i Pᵀ‖² − Σ_i ‖z_i‖² for a batch z (b, C, S), L_i = Aᵀ z_i P, without forming the reconstruction.

    = −2 ‖L‖² + tr(Lᵀ AᵀA L PᵀP), from thin products only (single GEMMs); differentiable
    in A and P (the unconstrained ablation descends it with autograd).
    """
    b, C, S = z.shape
    R, K = A.shape[1], P.shape[1]
    Y = (z.reshape(b * C, S) @ P).reshape(b, C, K)  # Z P
    L = (A.T @ Y.permute(1, 0, 2).reshape(C, b * K)).reshape(R, b, K)  # Aᵀ Z P
    return -2 * (L**2).sum() + (L * ((AtA @ L.reshape(R, b * K)).reshape(R, b, K) @ PtP)).sum()


def relative_objective(source: FeatureSource, A: torch.Tensor, P: torch.Tensor, *, energy: float | None = None) -> float:
    """Eq. 3 divided by sum_i ||Z_i||^2, in one pass (float64).

    Uses ||Z - A L P^T||^2 = ||Z||^2 - 2 ||L||^2 + tr(L^T A^T A L P^T P) with L = A^T Z P.
    """
    A = A.to(torch.float64)
    P = P.to(torch.float64)
    AtA = A.T @ A
    G = P.T @ P
    total = 0.0
    norm = 0.0
    for batch in source.batches(CHUNK):
        z = batch.to(device=A.device, dtype=torch.float64).flatten(2)
        sq = float((z**2).sum()) if energy is None else 0.0
        total += sq + float(residual_minus_energy(z, A, P, AtA, G))
        norm += sq
    if energy is not None:
        total, norm = total + energy, energy
    return total / norm


def _initial_appearances(grams: Grams, rank: int, init: str, rng: torch.Generator) -> torch.Tensor:
    if init == "hosvd":
        return _init.channel_basis(grams.channel, rank)
    C = grams.channel.shape[0]
    Q, _ = torch.linalg.qr(torch.randn((C, rank), generator=rng, dtype=torch.float64))
    return Q.to(grams.channel.device)


def _canonical_order(P: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """Columns of P by decreasing energy p_k^T M p_k (the order of the parts is otherwise arbitrary)."""
    P64 = P.to(device=M.device, dtype=torch.float64)
    energy = ((M @ P64) * P64).sum(0)
    return P[:, torch.argsort(energy.cpu(), descending=True, stable=True).to(P.device)]


# ------------------------------------------------------------------------ the solvers
def _fit_projective(source, grams, p, rng):
    C, H, W = grams.feature_shape
    S = H * W
    K = p["n_parts"]
    R = p["_rank"]
    device = grams.spatial.device
    E = grams.energy
    callback = p["callback"]
    if p["max_iter"] is None:
        p["max_iter"] = projective_max_iter(S)
    history: list[float] = []
    n_iter = 0
    capped: list[str] = []  # what stopped before tol, for the ConvergenceWarning
    offset = [0]

    def cb(it, rel):
        if callback is not None:
            callback(offset[0] + it, float(np.min(rel)))

    def solve(M1, M2, P0):
        nonlocal n_iter
        res = _projective.solve_parts(M1[None], None if M2 is None else M2[None], P0, E, max_iter=p["max_iter"], tol=p["tol"], callback=cb)
        # the first restart within round-off of the best (restarts often tie, e.g. with the
        # parts permuted): the choice must not flip on float64 noise in M
        obj = res.objective
        best = int(torch.nonzero(obj <= obj.min() + 1e-9 * obj.min().abs()).flatten()[0])
        history.extend(float(h[best]) for h in res.history[1:])
        n_iter += res.n_iter
        offset[0] += res.n_iter
        if not res.converged and "parts" not in capped:
            capped.append("parts")
        return res.P[best], float(res.objective[best])

    A = _initial_appearances(grams, R, p["init"], rng)
    P0 = _init.random_parts(p["n_restarts"], S, K, generator=rng, device=device)
    if R == C:
        # A A^T = I: Eq. 3 depends on the data through M alone
        P, obj = solve(grams.spatial, None, P0)
    else:
        P, obj = None, float("inf")
        for outer in range(MAX_OUTER):
            M1, _ = _free.pass_appearance_grams(source, A, None, chunk=CHUNK)
            P, new = solve(M1, None, P0 if P is None else P[None])
            B, Cm = _free.pass_parts_statistics(source, P, chunk=CHUNK)
            A = _free.eigen_step(2 * B - Cm, R)
            new = 1 - float(torch.trace(A.T @ (2 * B - Cm) @ A)) / E
            history.append(new)
            if obj - new < p["tol"] * 10:
                obj = min(obj, new)
                break
            obj = new
        else:
            capped.append("alternations")
    if p["appearance_basis"] == "free":
        U = None if R == C else A
        L = A
        for outer in range(MAX_OUTER):
            B, Cm = _free.pass_parts_statistics(source, P, chunk=CHUNK)
            L_new, w = _free.lyapunov_step(B, Cm, U)
            W = L_new @ L_new.T
            after_w = (E - 2 * float((W * B).sum()) + float((W @ Cm * W).sum())) / E
            if after_w > obj:  # round-off: keep the previous basis
                break
            L = L_new
            M1, M2 = _free.pass_appearance_grams(source, L, w, chunk=CHUNK)
            P, new = solve(M1, M2, P[None])
            history.append(new)
            if obj - new < p["tol"] * 10:
                obj = min(obj, new)
                break
            obj = new
        else:
            capped.append("alternations")
        A = L
    return A, P, history, n_iter, obj, capped, None


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


def _fit_gradient(source, grams, p, rng):
    C, H, W = grams.feature_shape
    S = H * W
    K = p["n_parts"]
    R = p["_rank"]
    dtype = grams.dtype
    device = grams.device
    A = _initial_appearances(grams, R, p["init"], rng).to(dtype)
    P = _init.random_parts(1, S, K, generator=rng, device=device, dtype=dtype)[0]
    b = grams.n_samples if p["batch_size"] is None else min(p["batch_size"], grams.n_samples)
    if p["learning_rate"] is not None:
        lr = p["learning_rate"]
    elif p["solver"] == "pgd":
        lam = float(torch.linalg.eigvalsh(grams.spatial)[-1]) / grams.n_samples
        lr = 1.0 / (32 * b * lam)
    else:
        lr = DEFAULT_ADAM_LR
    if p["solver"] == "adam":
        state = _adam.AdamState(A, P, lr)
    every = max(1, p["max_iter"] // 50)
    history = []
    batches = _minibatches(source, p["batch_size"], rng)
    steps = _progress(range(p["max_iter"]), enabled=p["verbose"], n_samples=p["max_iter"] * b // 10, desc=p["solver"], unit="step")
    with torch.no_grad():
        for t in steps:
            z = next(batches).to(device=device, dtype=dtype)
            if p["solver"] == "pgd":
                A, P = _pgd.pgd_step(z, A, P, lr)
            else:
                state.step(z)
            if (t + 1) % every == 0 or t + 1 == p["max_iter"]:
                A_, P_ = (A, P) if p["solver"] == "pgd" else (state.A.detach(), state.P.detach())
                if not (torch.isfinite(A_).all() and torch.isfinite(P_).all()):
                    raise FloatingPointError(
                        f"solver {p['solver']!r} diverged at iteration {t + 1} with learning_rate={lr:g}; use a smaller one"
                    )
                history.append(relative_objective(source, A_, P_, energy=grams.energy))
                if p["callback"] is not None:
                    p["callback"](t + 1, history[-1])
    if p["solver"] == "adam":
        A, P = state.A.detach(), state.P.detach()
    if not (P > 0).any():
        # a step too long for the data projects every entry of P below zero: P = 0, the
        # trivial solution (relative objective 1), which no further step leaves
        warnings.warn(
            f"PandA(solver={p['solver']!r}) collapsed to all-zero parts (relative objective {history[-1]:.4f}) "
            f"with learning_rate={lr:g}: use a smaller one, or the default solver, which needs none",
            ConvergenceWarning,
            stacklevel=4,
        )
    return A, P, history, p["max_iter"], history[-1], True, lr


# --------------------------------------------------------------------- public function
def panda(
    Z,
    n_parts: int = 8,
    n_appearances: int | None = None,
    *,
    appearance_basis: str = "orthonormal",
    solver: str = "auto",
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
    solver : {'auto', 'projective', 'pgd', 'adam'}
        'auto' = 'projective': no learning rate, monotone, stops on ``tol``. 'pgd':
        Algorithm 1 exactly (the official recipe is ``batch_size=1, max_iter=10_000`` with
        a fixed ``learning_rate``). 'adam': the autograd + Adam variant of Sec. 4.3.3.
    init : {'hosvd', 'random'}
        A from the leading eigenvectors of the channel scatter sum_i Z_i Z_i^T (Sec. 3.4),
        or a random orthonormal basis. P ~ U(0, 0.01) either way.
    max_iter : int, optional
        Projective: parts iterations per solve (default 1000 for up to 1024 spatial
        positions, 1000 more per further 1024: 2000 at 36×36 and 64×64 is 4000; see
        :func:`projective_max_iter`). pgd/adam: iterations (default 10,000, the official recipe).
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
        (Eq. 3 / sum_i ||Z_i||^2), ``feature_shape``, ``n_samples``, ``learning_rate``.
    """
    p = _validate({k: v for k, v in locals().items() if k != "Z"})
    source = FeatureSource(Z)
    if source.feature_shape is not None:  # a tensor: refuse bad ranks before the Gram pass
        _check_ranks(p["n_parts"], p["n_appearances"], source.feature_shape)
    rng = _rng(p["random_state"])
    grams = accumulate_grams(source, batch_size=CHUNK, verbose=p["verbose"])
    p["_rank"] = _check_ranks(p["n_parts"], p["n_appearances"], grams.feature_shape)
    if p["solver"] == "projective":
        A, P, history, n_iter, obj, capped, lr = _fit_projective(source, grams, p, rng)
        converged = not capped
        if "parts" in capped:
            warnings.warn(
                f"PandA(solver='projective') reached max_iter={p['max_iter']} before tol={p['tol']:g} "
                f"(relative objective {obj:.6f}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        if "alternations" in capped:
            warnings.warn(
                f"PandA(solver='projective') made {MAX_OUTER} alternations between the appearance and parts "
                f"steps (n_appearances < C or appearance_basis='free') before tol={p['tol']:g} "
                f"(relative objective {obj:.6f}); increase tol",
                ConvergenceWarning,
                stacklevel=3,
            )
    else:
        A, P, history, n_iter, obj, converged, lr = _fit_gradient(source, grams, p, rng)
    C, H, W = grams.feature_shape
    basis = p["appearance_basis"] if p["solver"] == "projective" else "free"
    P = _canonical_order(P, grams.spatial)
    return PandAResult(
        parts=P.T.reshape(p["n_parts"], H, W).to(device="cpu", dtype=torch.float32).clamp_min(0).contiguous(),
        appearances=A.to(device="cpu", dtype=torch.float32).contiguous(),
        loss_history=[float(h) for h in history],
        n_iter=int(n_iter),
        objective=float(obj),
        feature_shape=grams.feature_shape,
        n_samples=grams.n_samples,
        solver=p["solver"],
        appearance_basis=basis,
        learning_rate=lr,
        converged=converged,
    )


_PARAMS = [name for name in inspect.signature(panda).parameters if name != "Z"]


# ------------------------------------------------------------------------- the class
class PandA:
    """Parts and appearances of a layer's feature maps (PandA, ICLR 2023), scikit-learn style.

    Parameters are those of :func:`panda` (which does the work; this class stores its
    result). Example::

        model = PandA(n_parts=8, random_state=0).fit(Z)           # Z (N, C, H, W)
        model.parts_            # (8, H, W) >= 0
        model.appearances_      # (C, C)
        model.transform(Z)      # (N, C, 8): Lambda_i = A^T Z_i P

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
        Given to :meth:`fit` (recorded in saved factors).
    solver_, appearance_basis_ : str
        What was used ('auto' resolved).
    learning_rate_ : float or None
        The step size pgd/adam used.
    """

    def __init__(
        self,
        n_parts: int = 8,
        n_appearances: int | None = None,
        *,
        appearance_basis: str = "orthonormal",
        solver: str = "auto",
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
    def fit(self, Z, *, layer: str | None = None, generator: str | None = None) -> PandA:
        """Fit on feature maps (N, C, H, W) or an iterable of batches; returns ``self``.

        ``layer`` and ``generator`` (names) are recorded as ``layer_`` / ``generator_``
        and saved with the factors.
        """
        result = panda(Z, **self.get_params())
        self._set_result(result)
        self.layer_ = layer
        self.generator_ = generator
        return self

    def _set_result(self, result: PandAResult) -> None:
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

    # -------------------------------------------------------------- applying
    def _check_fitted(self) -> None:
        if not hasattr(self, "parts_"):
            raise RuntimeError("this PandA instance is not fitted yet; call fit(Z) first")

    def _factors_like(self, Z: torch.Tensor):
        return (
            self.appearances_.to(device=Z.device, dtype=Z.dtype),
            self.parts_.flatten(1).T.to(device=Z.device, dtype=Z.dtype),
        )

    def _check(self, Z, what="features") -> torch.Tensor:
        self._check_fitted()
        return check_features(Z, expected=self.feature_shape_, what=what)

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
        return relative_objective(source, A, P)

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


# ---------------------------------------------------------------- from a generator
class _GeneratorStream:
    """Re-iterable feature batches of a generator's layer: each pass draws the same latents again."""

    LATENT_CHUNK = 8192

    def __init__(self, generator, layer, n_samples, seed, batch_size, progress):
        self.generator, self.layer, self.n_samples = generator, layer, n_samples
        self.seed, self.batch_size, self.progress = seed, batch_size, progress
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        if self.n_samples <= self.LATENT_CHUNK:
            chunks = [self.generator.sample_latents(self.n_samples, seed=self.seed)]
        else:
            rng = torch.Generator().manual_seed(int(self.seed))
            chunks = (
                self.generator.sample_latents(min(self.LATENT_CHUNK, self.n_samples - s), generator=rng)
                for s in range(0, self.n_samples, self.LATENT_CHUNK)
            )
        for latents in chunks:
            yield from self.generator.iter_features(latents, self.layer, batch_size=self.batch_size, progress=self.progress)


def fit_generator(
    generator,
    layer: str,
    *,
    n_samples: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool | None = None,
    model: PandA | None = None,
    **params,
) -> PandA:
    """Fit PandA on a generator's layer, streaming its feature maps (memory does not grow with n_samples).

    Parameters
    ----------
    generator : panda_viz.Generator
    layer : str
        A key of ``generator.layers``.
    n_samples : int
        Latents drawn from ``seed`` (up to 8192 at once: ``generator.sample_latents(n, seed=seed)``;
        more are drawn in chunks from one torch.Generator seeded with ``seed``).
    batch_size : int or None
        Samples per forward pass; ``None``: as many as fit in ``generator.memory_budget``.
    progress : bool or None
        Progress bars of the feature extraction and, unless ``verbose`` is given, of the
        fit (``None``: for 1000 samples or more; ``False``: none at all).
    model : PandA, optional
        An unfitted estimator to use (e.g. to set its own ``batch_size``); else
        ``PandA(**params)``.

    Returns
    -------
    PandA
        Fitted, with ``layer_`` and ``generator_`` (the generator's name) recorded.
    """
    check_int("n_samples", n_samples, low=1)
    check_int("batch_size", batch_size, low=1, allow_none=True)
    generator._check_layer(layer)
    if model is not None and params:
        raise TypeError(f"pass either model= or estimator parameters, not both; got model and {sorted(params)}")
    if model is None:
        params.setdefault("verbose", progress)
        model = PandA(**params)
    # the layer's shape is known: refuse bad ranks before extracting any features
    _validate(model.get_params())
    _check_ranks(model.n_parts, model.n_appearances, generator.layers[layer])
    stream = _GeneratorStream(generator, layer, n_samples, seed, batch_size, progress)
    return model.fit(stream, layer=layer, generator=getattr(generator, "name", None))
