"""The image batches every metric takes: (N, C, H, W) tensors or arrays, as float tensors."""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_has_data
from ..exceptions import InvalidInputError

__all__ = ["as_images"]


def as_images(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """``x`` as a detached float tensor of shape (N, C, H, W) (float64 kept, anything else float32).

    Raises
    ------
    InvalidInputError
        ``x`` is not 4-D; the message names the argument ``name``.
    """
    t = check_has_data(name, x).detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 4:
        raise InvalidInputError(f"{name}: images of shape (N, C, H, W) expected; got {tuple(t.shape)}")
    return t.to(torch.float64 if t.dtype == torch.float64 else torch.float32)
