"""NaN and infinity in a generator's tensors: checks that also work on ``meta`` and under ``torch.func``.

:class:`~panda_viz.generators.base.Generator` refuses non-finite latents, warns when an
output or the weights hold NaN or inf (so it never passes silently), and must not read
values where there are none: on the ``meta`` device, or inside ``vmap``/``jacfwd``.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..exceptions import NonFiniteWarning

__all__ = ["all_finite", "warn_non_finite", "non_finite_weights", "non_finite_samples"]


def all_finite(tensor: torch.Tensor) -> bool:
    """True unless ``tensor`` holds NaN/inf; also True where values are not concrete (the
    meta device, or inside torch.func transforms such as vmap, which forbid reading them)."""
    if tensor.device.type == "meta":
        return True
    try:
        return bool(torch.isfinite(tensor.detach()).all())
    except RuntimeError:  # a vmap/jacfwd batched tensor: checked where the values are real
        return True


def non_finite_samples(tensor: torch.Tensor) -> list[int]:
    """Indices of the samples (along dim 0) of a batch (N, ...) that hold NaN or inf."""
    return torch.nonzero(~torch.isfinite(tensor.detach()).flatten(1).all(1)).flatten().tolist()


def warn_non_finite(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """``tensor``, after a :class:`~panda_viz.exceptions.NonFiniteWarning` if it holds NaN/inf.

    ``what`` names the method in the warning; it is raised at the caller's caller (the
    user's line that called the method).
    """
    if not all_finite(tensor):
        bad = len(non_finite_samples(tensor))
        warnings.warn(
            f"{what}: {bad} of {len(tensor)} outputs hold NaN or infinite values (check the latents, the edit "
            "strengths α and the generator's weights)",
            NonFiniteWarning,
            stacklevel=3,
        )
    return tensor


def non_finite_weights(module: nn.Module) -> list[str]:
    """Names of floating parameters and buffers holding NaN or inf (meta tensors skipped)."""
    named = (*module.named_parameters(), *module.named_buffers())
    return [n for n, t in named if t.is_floating_point() and t.device.type != "meta" and not bool(torch.isfinite(t).all())]
