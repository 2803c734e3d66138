"""The result type shared by every latent-direction method, and the one way to apply a direction."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .._checks import describe, is_int
from ..exceptions import InvalidInputError, InvalidTypeError

__all__ = ["Directions", "apply_direction", "fix_signs"]


@dataclass(frozen=True)
class Directions:
    """Latent directions found by a method, best first.

    Attributes
    ----------
    directions : Tensor (k, *latent_shape)
        Unit-norm directions (each flattened direction has Euclidean norm 1). SeFa's are
        orthonormal; GANSpace's and ReSeFa's, as their official code computes them, are not.
    scores : Tensor (k,)
        What the method ranks them by, in decreasing order: SeFa's eigenvalues of AᵀA,
        ReSeFa's generalised eigenvalues (foreground over background energy per Jacobian
        row), GANSpace's feature-space variances.
    method : str
        ``"sefa"``, ``"resefa"`` or ``"ganspace"``.
    info : dict
        Method details (the layer(s) used, sample counts, the regulariser, …).
    """

    directions: torch.Tensor
    scores: torch.Tensor
    method: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.directions.ndim < 2 or len(self.scores) != len(self.directions):
            raise InvalidInputError(
                f"Directions: directions (k, *latent_shape) and scores (k,) expected; got "
                f"{tuple(self.directions.shape)} and {tuple(self.scores.shape)}"
            )

    def __len__(self) -> int:
        return len(self.directions)

    def __getitem__(self, index: int) -> torch.Tensor:
        """Direction ``index`` (*latent_shape)."""
        return self.directions[index]

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.directions.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Directions(method={self.method!r}, k={len(self)}, latent_shape={self.latent_shape}, "
            f"scores[:3]={[round(float(s), 4) for s in self.scores[:3]]})"
        )


def apply_direction(
    latents: Any, direction: torch.Tensor, alpha: float | torch.Tensor, *, layers: Sequence[int] | None = None
) -> Any:
    """Move latents along a direction: ``latents + alpha * direction``.

    The one function the notebooks, the widgets and the evaluation use to edit with any method.

    Parameters
    ----------
    latents : Tensor (N, *latent_shape) or Inversion
        An inversion of photos moves its latents and keeps the photos' residual at its
        layer (see :mod:`panda_viz.generators.inverted`): the result is an Inversion, and
        α = 0 reproduces its reconstruction exactly.
    direction : Tensor (*latent_shape) or flat (prod(latent_shape),)
        For example ``result.directions[j]`` or ``result[j]``. With ``layers``, also one
        w (w_dim,) for every layer.
    alpha : float or Tensor (N,)
        Edit strength, one for all samples or one per sample.
    layers : sequence of int, optional
        Per-layer latents only (N, num_layers, w_dim), such as a StyleGAN's w+: move only
        these layers, leaving the others as they are — the official LowRankGAN edit
        (``manipulate.py`` tiles a w direction over the layers and moves layers 4–7 by
        default; :data:`panda_viz.baselines.lowrankgan.EDIT_LAYERS`). None (default):
        every entry moves.

    Returns
    -------
    Tensor (N, *latent_shape), or an Inversion for an Inversion
        New latents (the inputs are not modified).
    """
    from ..generators.inverted import Inversion

    if isinstance(latents, Inversion):
        return latents.moved(apply_direction(latents.latents, direction, alpha, layers=layers))
    if not isinstance(latents, torch.Tensor) or latents.ndim < 2:
        got = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        raise InvalidInputError(f"apply_direction: latents of shape (N, *latent_shape) expected; got {got}")
    if not isinstance(direction, torch.Tensor):
        raise InvalidTypeError(f"apply_direction: direction must be a torch.Tensor; got {describe(direction)}")
    latent_shape = tuple(latents.shape[1:])
    selected = None if layers is None else _check_layers(layers, latents)
    if selected is not None and tuple(direction.shape) == latent_shape[1:]:
        direction = direction.expand(latent_shape)  # one w for every layer, as manipulate.py tiles it
    if tuple(direction.shape) != latent_shape:
        if direction.numel() == math.prod(latent_shape) and direction.ndim == 1:
            direction = direction.reshape(latent_shape)
        else:
            per_layer = f", or one w ({latent_shape[-1]},) with layers=" if len(latent_shape) == 2 else ""
            raise InvalidInputError(
                f"apply_direction: direction of shape {latent_shape} (or flat ({math.prod(latent_shape)},){per_layer}) expected "
                f"for latents {tuple(latents.shape)}; got {tuple(direction.shape)}"
            )
    direction = direction.to(latents.device, latents.dtype)
    if selected is not None:
        keep = torch.zeros(latent_shape[0], 1, dtype=latents.dtype, device=latents.device)
        keep[selected] = 1
        direction = direction * keep
    alpha = torch.as_tensor(alpha, dtype=latents.dtype, device=latents.device)
    if alpha.ndim == 1 and len(alpha) == len(latents):
        alpha = alpha.reshape(-1, *([1] * len(latent_shape)))
    elif alpha.ndim != 0:
        raise InvalidInputError(
            f"apply_direction: alpha must be a number or a tensor of shape ({len(latents)},); got {tuple(alpha.shape)}"
        )
    return latents + alpha * direction


def _check_layers(layers: Any, latents: torch.Tensor) -> list[int]:
    """``layers`` as a sorted list of distinct layer indices of per-layer latents (N, L, w)."""
    if latents.ndim != 3:
        raise InvalidInputError(
            f"layers= needs per-layer latents (N, num_layers, w_dim), such as a StyleGAN's w+ (load it with "
            f"latent_space='w+'); got latents of shape {tuple(latents.shape)}"
        )
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise InvalidTypeError(f"layers must be a sequence of layer indices, e.g. (4, 5, 6, 7); got {layers!r}")
    layers = list(layers)
    count = latents.shape[1]
    if not layers or any(not is_int(i) or not 0 <= i < count for i in layers):
        raise InvalidInputError(
            f"layers must be a non-empty sequence of ints in [0, {count - 1}] (the latents have {count} layers); "
            f"got {layers!r}"
        )
    return sorted(set(layers))


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row so its entry of largest magnitude is positive.

    Eigenvectors and singular vectors have no sign; this makes every baseline's directions
    deterministic (scikit-learn's ``svd_flip(u_based_decision=False)`` convention).

    Parameters
    ----------
    vectors : Tensor (k, d)
        One vector a row.

    Returns
    -------
    Tensor (k, d)
        The same rows, some negated; an all-zero row stays zero.
    """
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    return vectors * torch.sign(vectors.gather(1, idx))
