"""Fitted factors: what every consumer of a PandA model checks before using it.

A fitted model is anything with the attributes of :class:`FittedFactors`, such as
:class:`panda_viz.PandA` (fitted, or built with :meth:`~panda_viz.PandA.from_factors`).
:mod:`panda_viz.editing.edits`, :mod:`panda_viz.editing.saliency`, the widgets and the edit zoo ask the
questions below here, so each is answered, and each error worded, in one place:

- :func:`check_fitted`: is it a fitted model, with factors of consistent shapes?
- :func:`check_features_fit`: do these feature maps fit the factors (shape, floating point)?
  Their values are not looked at: a consumer's result shows NaN where the features hold
  it. (A batch to *fit on* is checked for finite values too, by
  :meth:`PandA.fit <panda_viz.PandA.fit>` and :meth:`~panda_viz.PandA.transform`.)
- :func:`appearance_indices`: which appearances do these indices name?
- :func:`candidate_appearances`: which appearances do these candidates name (an int n: the first n)?
- :func:`check_compatible`: do the factors fit this generator at this layer?

Errors are :class:`~panda_viz.exceptions.NotFittedError` (no factors),
:class:`~panda_viz.exceptions.IncompatibleFactorsError` (factors and generator, layer or
features disagree; the message names both sides), :class:`~panda_viz.exceptions.InvalidTypeError`
(features that are not a floating-point tensor: integers are refused, never cast, as in
:meth:`PandA.transform <panda_viz.PandA.transform>`) and
:class:`~panda_viz.exceptions.InvalidIndexError` (an appearance index out of range; an
``IndexError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from .._checks import check_has_data, check_int, is_int
from ..exceptions import (
    IncompatibleFactorsError,
    InvalidIndexError,
    InvalidInputError,
    InvalidTypeError,
    NotFittedError,
)

__all__ = [
    "FittedFactors",
    "Appearances",
    "check_fitted",
    "feature_shape",
    "check_features_fit",
    "appearance_indices",
    "candidate_appearances",
    "check_compatible",
]

Appearances = int | Sequence[int] | torch.Tensor | None
"""Appearance indices: one int, a sequence of ints, a 1-D integer tensor, or None (all)."""


@runtime_checkable
class FittedFactors(Protocol):
    """What a fitted model provides (attributes end in ``_`` as in scikit-learn).

    Attributes
    ----------
    parts_ : Tensor (n_parts, H, W), >= 0
        Spatial parts P.
    appearances_ : Tensor (C, n_appearances)
        Channel appearances A.
    feature_shape_ : tuple (C, H, W)
        Shape of one sample's feature maps at the layer the factors describe.
    layer_ : str or None
        The generator's layer the factors were fitted at (None: not recorded).
    generator_ : str or None
        The name of the generator they were fitted on (None: not recorded).
    """

    parts_: torch.Tensor
    appearances_: torch.Tensor
    feature_shape_: tuple[int, int, int]
    layer_: str | None
    generator_: str | None


def check_fitted(model: Any) -> FittedFactors:
    """``model`` itself, once it is known to hold fitted factors of consistent shapes.

    Raises
    ------
    NotFittedError
        ``parts_`` or ``appearances_`` missing (not fitted).
    IncompatibleFactorsError
        Parts not (n_parts, H, W), appearances not (C, n_appearances), or either
        disagreeing with ``feature_shape_``.
    """
    for attribute in ("parts_", "appearances_"):
        if getattr(model, attribute, None) is None:
            raise NotFittedError(
                f"expected a fitted PandA model (with {attribute!r}); got {type(model).__name__} without it "
                "(call fit first, or build one with PandA.from_factors)"
            )
    parts, appearances = model.parts_, model.appearances_
    if parts.ndim != 3 or appearances.ndim != 2:
        raise IncompatibleFactorsError(
            f"factors of shapes parts (n_parts, H, W) and appearances (C, n_appearances) expected; "
            f"got parts {tuple(parts.shape)} and appearances {tuple(appearances.shape)}"
        )
    implied = (int(appearances.shape[0]), int(parts.shape[1]), int(parts.shape[2]))
    recorded = getattr(model, "feature_shape_", None)
    if recorded is not None and tuple(int(s) for s in recorded) != implied:
        raise IncompatibleFactorsError(
            f"parts {tuple(parts.shape)} and appearances {tuple(appearances.shape)} imply features (C, H, W) = "
            f"{implied}; the model records feature_shape_ = {tuple(recorded)}"
        )
    return model


def feature_shape(model: Any) -> tuple[int, int, int]:
    """(C, H, W) of the feature maps the fitted factors describe."""
    check_fitted(model)
    return (int(model.appearances_.shape[0]), int(model.parts_.shape[1]), int(model.parts_.shape[2]))


def check_features_fit(model: Any, Z: Any, name: str = "Z") -> torch.Tensor:
    """``Z`` itself, once it is a floating-point (N, C, H, W) tensor of the factors' feature shape.

    Only the type and the shape are checked, not the values (no pass over ``Z``).

    Parameters
    ----------
    model : FittedFactors
    Z : Tensor (N, C, H, W)
    name : str
        How error messages name ``Z``.

    Raises
    ------
    InvalidTypeError
        Not a tensor, or not floating point (integers are refused, never cast).
    IncompatibleFactorsError
        Not (N, C, H, W) with N >= 1 and (C, H, W) the factors' feature shape.
    """
    shape = feature_shape(model)
    expected = f"(N, {', '.join(map(str, shape))})"
    if not isinstance(Z, torch.Tensor):
        raise InvalidTypeError(f"{name} must be a torch.Tensor of shape {expected}; got {type(Z).__name__}")
    if not Z.is_floating_point():
        raise InvalidTypeError(f"{name} must be a floating-point tensor {expected}; got dtype {Z.dtype}")
    if Z.ndim != 4 or tuple(Z.shape[1:]) != shape or len(Z) == 0:
        layer = getattr(model, "layer_", None)
        where = f" (the factors were fitted at layer {layer!r})" if layer else ""
        raise IncompatibleFactorsError(f"{name} of shape {expected} expected{where}; got {tuple(Z.shape)}")
    return check_has_data(name, Z)


def appearance_indices(model: Any, appearances: Appearances) -> torch.Tensor:
    """Appearance indices checked against the model: a 1-D LongTensor (None: all of them).

    Raises
    ------
    InvalidInputError
        Not an int or a non-empty sequence of ints.
    InvalidIndexError
        An index outside 0 … n_appearances − 1 (an ``IndexError``).
    """
    n = int(check_fitted(model).appearances_.shape[1])
    if appearances is None:
        return torch.arange(n)
    index = torch.as_tensor(appearances)
    if index.ndim == 0:
        index = index.reshape(1)
    if index.ndim != 1 or index.numel() == 0 or index.dtype.is_floating_point or index.dtype == torch.bool:
        raise InvalidInputError(f"appearances must be an int or a non-empty sequence of ints; got {appearances!r}")
    bad = [int(i) for i in index if not 0 <= int(i) < n]
    if bad:
        raise InvalidIndexError(f"appearance index {bad[0]} out of range: the model has {n} appearances (0 … {n - 1})")
    return index.long()


def candidate_appearances(model: Any, candidates: int | Appearances, name: str = "candidates") -> torch.Tensor:
    """The appearances a search tries, as a 1-D LongTensor: an int n means the first n.

    An int n >= 1 larger than the model's number of appearances means all of them (the
    first n of fewer), so a default such as 16 serves every model; n < 1 is refused.
    ``None`` means all; a sequence or tensor names the indices themselves.

    Raises
    ------
    InvalidInputError
        An int below 1, or what :func:`appearance_indices` refuses.
    InvalidIndexError
        An index out of range.
    """
    n = int(check_fitted(model).appearances_.shape[1])
    if is_int(candidates):
        first = check_int(f"{name} (the first n appearances)", candidates, low=1)
        return torch.arange(min(first, n))
    return appearance_indices(model, candidates)


def check_compatible(generator: Any, model: Any, layer: str | None = None) -> str:
    """The layer to use the factors at, once they are known to fit ``generator`` there.

    Parameters
    ----------
    generator : panda_viz.Generator
    model : FittedFactors
    layer : str, optional
        Needed only when the model does not record its layer (``layer_``); must agree
        with it otherwise.

    Returns
    -------
    str
        The layer: ``layer``, or the model's.

    Raises
    ------
    NotFittedError
        The model holds no factors.
    IncompatibleFactorsError
        No layer known, ``layer`` differs from the model's, the generator's name differs
        from the one the model was fitted on (when both are known), the generator has no
        such layer, or the layer's feature shape differs from the factors'.
    """
    expected = feature_shape(model)
    fitted_at = getattr(model, "layer_", None)
    if layer is None:
        if fitted_at is None:
            raise IncompatibleFactorsError(
                "the model does not record the layer it was fitted at (layer_ is None); pass layer=… (e.g. 'main.5')"
            )
        layer = fitted_at
    elif fitted_at is not None and layer != fitted_at:
        raise IncompatibleFactorsError(f"the factors were fitted at layer {fitted_at!r}; got layer={layer!r}")
    if not isinstance(layer, str):
        raise InvalidTypeError(f"layer must be a module name (str); got {type(layer).__name__}")
    fitted_on = getattr(model, "generator_", None)
    name = getattr(generator, "name", None)
    if fitted_on is not None and name is not None and fitted_on != name:
        raise IncompatibleFactorsError(f"the factors were fitted on generator {fitted_on!r}; got generator {name!r}")
    try:
        shape = tuple(int(s) for s in generator.check_layer(layer))
    except InvalidInputError as error:  # no such layer: the factors do not fit this generator
        raise IncompatibleFactorsError(f"{error} (of generator {name!r})") from None
    if shape != expected:
        raise IncompatibleFactorsError(
            f"the factors expect features of shape {'×'.join(map(str, expected))}; "
            f"layer {layer!r} of {name!r} has {'×'.join(map(str, shape))}"
        )
    return layer
