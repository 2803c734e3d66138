"""How local an edit is: ROIR (PandA Eq. 7) and per-pixel MSE maps between originals and edits.

Images are generator outputs (N, 3, H, W) in [-1, 1] (tensors or arrays); masks are
(H, W), (1, H, W) or (N, H, W) in [0, 1], replicated over channels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .._checks import check_float
from ..exceptions import InvalidInputError
from .images import as_images

__all__ = ["RoirResult", "roir", "mse_maps"]


def _pair(images: torch.Tensor | np.ndarray, edited: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = as_images(images, "images"), as_images(edited, "edited")
    if x.shape != y.shape:
        raise InvalidInputError(f"images and edited must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def _mask(mask: torch.Tensor | np.ndarray, n: int, hw: tuple[int, int], *, device: torch.device) -> torch.Tensor:
    m = mask.detach() if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
    m = m.to(device=device, dtype=torch.float64)
    given = tuple(m.shape)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or tuple(m.shape[1:]) != tuple(hw) or len(m) not in (1, n):
        raise InvalidInputError(
            f"mask of shape ({hw[0]}, {hw[1]}), (1, {hw[0]}, {hw[1]}) or ({n}, {hw[0]}, {hw[1]}) expected "
            f"for images (N={n}, H={hw[0]}, W={hw[1]}); got {given}"
        )
    if m.numel() and (m.min() < 0 or m.max() > 1):
        raise InvalidInputError(f"mask values must lie in [0, 1]; got range [{float(m.min()):.3g}, {float(m.max()):.3g}]")
    if not (m.flatten(1).sum(1) > 0).all():
        raise InvalidInputError("mask is empty (all zeros): ROIR needs a region of interest")
    return m


@dataclass(frozen=True)
class RoirResult:
    """ROIR over a batch (PandA Eq. 7): lower means a more local edit.

    Attributes
    ----------
    mean, std : float
        Over the samples whose edit changed the region of interest (NaN if none did).
    values : ndarray (N,)
        Per-sample ratio ‖(1−M)(X−X′)‖ / ‖M(X−X′)‖; NaN where the region did not change.
    unchanged : ndarray of int
        Indices of samples whose edit changed nothing inside the mask (left out of mean/std).
    inside, outside : ndarray (N,)
        The denominators ‖M(X−X′)‖ and numerators ‖(1−M)(X−X′)‖.
    """

    mean: float
    std: float
    values: np.ndarray
    unchanged: np.ndarray
    inside: np.ndarray = field(repr=False)
    outside: np.ndarray = field(repr=False)

    @property
    def n_unchanged(self) -> int:
        return len(self.unchanged)

    def __str__(self) -> str:
        extra = f" ({self.n_unchanged} unchanged samples left out)" if self.n_unchanged else ""
        return f"{self.mean:.3f} ± {self.std:.3f}{extra}"


def roir(
    images: torch.Tensor | np.ndarray,
    edited: torch.Tensor | np.ndarray,
    mask: torch.Tensor | np.ndarray,
    *,
    atol: float = 1e-12,
) -> RoirResult:
    """Ratio of change outside over inside a region of interest (PandA Eq. 7).

    ROIR(M, X, X′) = 1/N Σ_i ‖(1 − M) ∗ (X_i − X′_i)‖ / ‖M ∗ (X_i − X′_i)‖, with the
    spatial mask M replicated along channels and Frobenius norms over (C, H, W).

    Parameters
    ----------
    images, edited : (N, C, H, W)
        Originals and their edits.
    mask : (H, W), (1, H, W) or (N, H, W), values in [0, 1]
        Region of interest (soft masks weight pixels).
    atol : float
        An inside change ‖M(X−X′)‖ at or below this counts as "nothing changed": that sample
        is reported in ``unchanged`` (with a warning) and left out of the mean, never
        turned into inf.

    Returns
    -------
    RoirResult
    """
    atol = check_float("roir: atol", atol, low=0.0, strict=False)
    x, y = _pair(images, edited)
    m = _mask(mask, len(x), tuple(x.shape[-2:]), device=x.device)[:, None]
    diff = (x - y).to(torch.float64)
    inside = (m * diff).flatten(1).norm(dim=1)
    outside = ((1 - m) * diff).flatten(1).norm(dim=1)
    changed = inside > atol
    values = torch.full_like(inside, float("nan"))
    values[changed] = outside[changed] / inside[changed]
    unchanged = torch.nonzero(~changed).flatten().cpu().numpy()
    if len(unchanged):
        warnings.warn(
            f"ROIR: {len(unchanged)} of {len(x)} edits changed nothing inside the mask "
            f"(samples {unchanged[:10].tolist()}{' …' if len(unchanged) > 10 else ''}); left out of the mean",
            RuntimeWarning,
            stacklevel=2,
        )
    kept = values[changed]
    mean = float(kept.mean()) if len(kept) else float("nan")
    std = float(kept.std(unbiased=False)) if len(kept) else float("nan")
    return RoirResult(
        mean=mean,
        std=std,
        values=values.cpu().numpy(),
        unchanged=unchanged,
        inside=inside.cpu().numpy(),
        outside=outside.cpu().numpy(),
    )


def mse_maps(images: torch.Tensor | np.ndarray, edited: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-pixel squared error between originals and edits, averaged over channels.

    Parameters
    ----------
    images, edited : (N, C, H, W)

    Returns
    -------
    ndarray (N, H, W), float32
        ``mse_maps(x, y).mean(0)`` is the mean map shown under the edits in PandA's Fig. 7.
    """
    x, y = _pair(images, edited)
    return ((x - y) ** 2).mean(1).to(torch.float32).cpu().numpy()
