"""Edits as data: what a layer's feature map becomes, and the hook replacements that apply it.

An :data:`EditMap` maps a layer name to an :data:`Edit`: an additive delta (C, H, W) for every
sample or (N, C, H, W) one per sample, or a function of the feature map (n, C, H, W)
returning the new one. :func:`edit_replacements` turns one into the functions that
:func:`panda_viz.generators.hooks.replace` hooks in for a batch of the N samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Union

import torch

from ..exceptions import InvalidInputError, InvalidTypeError

__all__ = ["Edit", "EditMap", "edit_replacements"]

#: An edit of one layer: an additive delta (C, H, W) or (N, C, H, W), or a function of
#: the feature map (N, C, H, W) returning the new feature map.
Edit = Union[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]
EditMap = Mapping[str, Edit]


def edit_replacements(
    edits: EditMap | None, check_layer: Callable[[str], tuple[int, int, int]], part: slice, n: int
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Replacement functions applying ``edits`` to the samples in ``part`` of ``n``.

    Parameters
    ----------
    edits : mapping or None
        Layer name -> :data:`Edit`.
    check_layer : callable
        ``layer -> (C, H, W)``, refusing an unknown layer
        (:meth:`~panda_viz.generators.base.Generator.check_layer`).
    part : slice
        The samples of this batch.
    n : int
        All samples (a per-sample delta has n rows).

    Raises
    ------
    InvalidTypeError
        ``edits`` is not a mapping, or an edit is neither a tensor nor a callable.
    InvalidInputError
        A delta of neither shape.
    """
    if not edits:
        return {}
    if not isinstance(edits, Mapping):
        raise InvalidTypeError(f"edits must map layer names to deltas or functions; got {type(edits).__name__}")
    return {layer: _edit_function(layer, check_layer(layer), edit, part, n) for layer, edit in edits.items()}


def _edit_function(
    layer: str, shape: tuple[int, int, int], edit: Edit, part: slice, n: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    if callable(edit) and not isinstance(edit, torch.Tensor):
        return edit
    if not isinstance(edit, torch.Tensor):
        raise InvalidTypeError(f"edit at layer {layer!r} must be a tensor or a callable; got {type(edit).__name__}")
    if tuple(edit.shape) == shape:
        delta = edit
    elif edit.ndim == 4 and tuple(edit.shape[1:]) == shape and len(edit) == n:
        delta = edit[part]
    else:
        raise InvalidInputError(
            f"edit at layer {layer!r} must have shape ({', '.join(map(str, shape))}) or "
            f"({n}, {', '.join(map(str, shape))}); got {tuple(edit.shape)}"
        )
    return lambda features, d=delta: features + d.to(features.device, features.dtype)
