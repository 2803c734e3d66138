"""Validation of hyperparameters and feature maps, done once at the public boundary.

The general checks (an int, a float, a choice, a random state) are :mod:`panda_viz._checks`';
this module holds what only a decomposition asks: the hyperparameters of :func:`panda`
together (:func:`check_params`), the numbers of parts and appearances against a feature
shape (:func:`check_ranks`), and a batch of feature maps to fit on
(:func:`check_finite_features`, :class:`FeatureSource`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch

from .._checks import (
    as_rng,
    check_bool,
    check_choice,
    check_float,
    check_has_data,
    check_int,
)
from ..exceptions import InvalidInputError, InvalidTypeError, NonFiniteError

__all__ = [
    "SOLVERS",
    "APPEARANCE_BASES",
    "INITS",
    "DEFAULT_MAX_ITER",
    "CHUNK",
    "check_params",
    "check_ranks",
    "check_finite_features",
    "FeatureSource",
]

SOLVERS = ("projective", "pgd", "adam")
APPEARANCE_BASES = ("orthonormal", "free")
INITS = ("hosvd", "random")
#: Default iterations: parts steps of the projective solver; steps of Algorithm 1 / Adam.
DEFAULT_MAX_ITER = {"projective": 1000, "pgd": 10_000, "adam": 10_000}
#: Samples per chunk when a tensor input is traversed (Gram, statistics and objective passes).
CHUNK = 256


def check_params(params: dict) -> dict:
    """Check :func:`~panda_viz.decomposition.panda`'s hyperparameters (all but ``Z``) by name.

    Returns a copy with ``max_iter=None`` replaced by the pgd/adam default
    (:data:`DEFAULT_MAX_ITER`); the projective solver's default depends on the layer's size
    and is set once the features' shape is known (:func:`projective_max_iter`).

    Raises
    ------
    InvalidTypeError
        A parameter of the wrong kind (``n_parts=2.5``, ``solver=None``).
    InvalidInputError
        A parameter out of range, or an unknown name (with the near misses).
    """
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
    # checked only: panda() seeds its own generator (a None shared by every process of a group)
    as_rng(p["random_state"], "random_state")
    check_bool("verbose", p["verbose"], allow_none=True)
    if p["callback"] is not None and not callable(p["callback"]):
        raise InvalidTypeError(f"callback must be callable; got {type(p['callback']).__name__}")
    if p["max_iter"] is None and p["solver"] != "projective":  # projective: from S, see projective_max_iter
        p["max_iter"] = DEFAULT_MAX_ITER[p["solver"]]
    return p


def projective_max_iter(S: int) -> int:
    """The projective solver's default iteration budget for S spatial positions.

    1000 up to S = 1024 (32×32 layers); 1000 more per further 1024 positions. Larger S
    converge in more iterations: at StyleGAN3's 36×36 layers (S = 1296, 8 parts, 4
    restarts) solves took 650 to 1001 iterations to reach the default ``tol``.
    """
    return DEFAULT_MAX_ITER["projective"] * max(1, math.ceil(S / 1024))


def check_ranks(n_parts: int, n_appearances: int | None, feature_shape) -> int:
    """R_C, the number of appearances, once ``n_parts`` and ``n_appearances`` fit the feature shape (C, H, W).

    ``n_parts`` must be in [1, S] (S = H*W) and ``n_appearances`` in [1, C]; ``None`` means C.
    """
    C, H, W = feature_shape
    S = H * W
    if n_parts > S:
        raise InvalidInputError(f"n_parts must be in [1, S] with S = H*W = {H}*{W} = {S} spatial positions; got {n_parts}")
    if n_appearances is None:
        return C
    if n_appearances > C:
        raise InvalidInputError(f"n_appearances must be in [1, C] with C = {C} channels; got {n_appearances}")
    return n_appearances


def check_finite_features(
    Z: object,
    *,
    expected: tuple[int, int, int] | None = None,
    offset: int = 0,
    what: str = "features",
) -> torch.Tensor:
    """Check one batch of feature maps: a floating 4-D tensor (N, C, H, W) with finite values.

    Parameters
    ----------
    Z : object
        The batch.
    expected : tuple (C, H, W), optional
        The feature shape it must have (e.g. the one a model was fitted on).
    offset : int
        Index of the batch's first sample in the whole stream (for error messages).
    what : str
        How errors name the input.

    Returns
    -------
    Tensor (N, C, H, W)
        ``Z`` itself (integer tensors are refused, never silently cast).
    """
    if not isinstance(Z, torch.Tensor):
        raise InvalidTypeError(f"{what} must be a torch.Tensor of shape (N, C, H, W); got {type(Z).__name__}")
    if Z.ndim != 4:
        raise InvalidInputError(f"{what} must be 4-D (N, C, H, W); got a {Z.ndim}-D tensor of shape {tuple(Z.shape)}")
    if not Z.is_floating_point():
        raise InvalidTypeError(f"{what} must be a floating-point tensor; got dtype {Z.dtype}")
    if Z.shape[0] == 0:
        raise InvalidInputError(f"{what} must hold at least one sample; got shape {tuple(Z.shape)}")
    check_has_data(what, Z)
    if expected is not None and tuple(Z.shape[1:]) != tuple(expected):
        raise InvalidInputError(
            f"{what} of shape (N, {', '.join(map(str, expected))}) expected (the feature shape the model was "
            f"fitted on); got {tuple(Z.shape)}"
        )
    # fast path: NaN/Inf propagate through a per-sample sum; only if one is not finite
    # (or a huge but finite sample overflowed) look element by element
    if bool(torch.isfinite(Z.flatten(1).sum(dim=1)).all()):
        return Z
    finite = torch.isfinite(Z).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        shown = ", ".join(str(offset + i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        kinds = []
        if bool(torch.isnan(Z).any()):
            kinds.append("NaN")
        if bool(torch.isinf(Z).any()):
            kinds.append("Inf")
        raise NonFiniteError(f"{what} contain {'/'.join(kinds)} values in sample(s) {shown} (of the whole input)")
    return Z


class FeatureSource:
    """Feature maps given as one tensor (N, C, H, W) or an iterable of such batches.

    Iterating yields validated batches (same feature shape throughout, finite values);
    memory never holds more than one batch of the input. ``reiterable`` says whether the
    input can be traversed more than once (a tensor, a list, a re-iterable object such as
    a DataLoader); a one-shot iterator or generator can be read once only.
    """

    def __init__(self, Z: object, *, what: str = "features", expected: tuple[int, int, int] | None = None) -> None:
        """``expected``: the feature shape (C, H, W) every batch must have (e.g. a fitted model's)."""
        self.what = what
        if isinstance(Z, torch.Tensor):
            check_finite_features(Z, expected=expected, what=what)
            self.tensor: torch.Tensor | None = Z
            self.reiterable = True
            self.feature_shape: tuple[int, int, int] | None = tuple(Z.shape[1:])
            self.n_samples: int | None = int(Z.shape[0])
            self._iterable = None
            self._passes = 0
            return
        if isinstance(Z, (str, bytes)) or not isinstance(Z, Iterable):
            raise InvalidTypeError(
                f"{what} must be a torch.Tensor (N, C, H, W) or an iterable of such batches; got {type(Z).__name__}"
            )
        self.tensor = None
        self._iterable = Z
        self.reiterable = not isinstance(Z, Iterator)
        self.feature_shape = None if expected is None else tuple(expected)
        self.n_samples = None
        self._passes = 0

    @property
    def device(self) -> torch.device | None:
        return None if self.tensor is None else self.tensor.device

    def batches(self, batch_size: int = 256) -> Iterator[torch.Tensor]:
        """Yield validated batches; a tensor input is cut into ``batch_size`` chunks."""
        if self.tensor is not None:
            for start in range(0, self.tensor.shape[0], batch_size):
                yield self.tensor[start : start + batch_size]
            return
        if self._passes > 0 and not self.reiterable:
            raise InvalidTypeError(
                f"this fit needs more than one pass over the {self.what}, but they were given as a one-shot "
                "iterator; pass a tensor, a list of batches, or a re-iterable object (one whose __iter__ "
                "starts again, e.g. a DataLoader)"
            )
        self._passes += 1
        offset = 0
        for batch in self._iterable:  # type: ignore[union-attr]
            check_finite_features(batch, expected=self.feature_shape, offset=offset, what=self.what)
            if self.feature_shape is None:
                self.feature_shape = tuple(batch.shape[1:])
            offset += int(batch.shape[0])
            yield batch
        if offset == 0:
            raise InvalidInputError(f"{self.what}: the iterable yielded no batches")
        if self.n_samples is None:
            self.n_samples = offset
        elif self.n_samples != offset:
            raise InvalidInputError(f"{self.what}: the iterable yielded {offset} samples on this pass but {self.n_samples} before")
