"""Inverted images as latents: the :class:`Inversion` type and the pass that replays one.

An :class:`Inversion` (made by :func:`panda_viz.invert`) holds what reproduces a photo
through a generator: latents, the feature maps at one layer (the *inversion layer*) and,
after pivotal tuning, new values for the parameters of the modules after that layer.
Every :class:`~panda_viz.generators.Generator` entry point that takes latents
(``synthesize``, ``features``, ``iter_features``, ``synthesize_from``) also takes an
Inversion in the same argument, and this module says how such a pass runs
(:func:`inversion_pass`):

1. the generator runs on the stored latents;
2. the inversion layer's output is replaced with the stored features (a forward hook,
   :func:`panda_viz.generators.hooks.replace`); an edit of that layer applies *after*
   the replacement, to the stored features;
3. the modules run with the tuned parameters: a copy of the module tree that shares every
   untouched parameter and buffer with the caller's module and holds the tuned ones
   (:func:`tuned_module`). The caller's module is never modified.

So every function built on those entry points (``edit_images``, ``remove_images``,
``fill_images``, ``rank_appearances``, ``EditZoo.apply``, the widgets …) works on
a photo unchanged. Reading or editing a layer *before* the inversion layer is refused: the
photo's content is only known from that layer on.

After :func:`panda_viz.apply_direction` moves an inversion's latents (latent-space
baselines), the stored features no longer match them. The pass then keeps the photo's
residual: the inversion layer gets ``stored + f(z') − f(z)``, with f the layer's output
of the pass from the moved latents z' and from the latents z the features were stored at
(:attr:`Inversion.anchor`). The direction's change reaches the image as on a generated
sample, the photo's details stay, and α = 0 gives the reconstruction exactly.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .._checks import describe, is_int
from ..exceptions import (
    InvalidIndexError,
    InvalidInputError,
    InvalidTypeError,
    StopForward,
)
from . import hooks

__all__ = ["Inversion", "inversion_pass", "tuned_module", "STAGES"]

#: The stages of :func:`panda_viz.invert`, in order.
STAGES = ("latents", "features", "tuning")


@dataclass(eq=False)
class Inversion:
    """Images inverted into a generator: what reproduces them, and how well.

    Pass it wherever latents go: ``G.synthesize(inv)``, ``edit_images(G, inv, model,
    terms)``, ``G.features(inv, "main.5")`` … Index it like latents: ``inv[0]`` (a
    one-image inversion), ``inv[:4]``, ``inv[[0, 2]]``; ``len(inv)`` is N.

    Attributes
    ----------
    latents : Tensor (N, *latent_shape)
        The optimised latents (the generator's own latent space: z, w or w+).
    layer : str or None
        The inversion layer whose output is replaced by ``features`` (None: no feature
        stage, the latents alone feed the pass).
    features : Tensor (N, C, H, W) or None
        The optimised feature maps at ``layer``.
    tuned : dict of str to Tensor, or None
        Pivotal tuning's parameter values (name as in ``module.named_parameters()`` →
        tensor), shared by the N images; the other parameters are the generator's.
    target : Tensor (N, 3, H, W)
        The preprocessed photos, in [-1, 1].
    reconstruction : Tensor (N, 3, H, W)
        ``G.synthesize(inv)``: the generator's output, in [-1, 1].
    psnr : Tensor (N,)
        PSNR of ``reconstruction`` against ``target`` in dB (peak-to-peak 2, the [-1, 1] range).
    history : dict of str to list of float
        Mean squared error per optimisation step, for each stage run (``STAGES``).
    stage_psnr : dict of str to Tensor (N,)
        PSNR after each stage run.
    stage_seconds : dict of str to float
        Wall time of each stage run.
    generator_name : str or None
        ``G.name`` of the generator it was made with (checked when used).
    anchor : Tensor (N, *latent_shape) or None
        Set when the latents were moved after the inversion (e.g. by
        :func:`panda_viz.apply_direction`): the latents ``features`` belong to.
    settings : dict
        The arguments :func:`panda_viz.invert` ran with (for the record, and saved files).
    crop_box : Tensor (N, 4) or None
        The crop of each photo that was inverted: (left, top, right, bottom) in pixels of the
        upright photo (None for inversions saved before it was recorded).
    crop_scale : Tensor (N, 2) or None
        Output pixels per photo pixel of each crop, (vertical, horizontal): above 1 the
        photo was upscaled to the generator's resolution.
    """

    latents: torch.Tensor
    layer: str | None = None
    features: torch.Tensor | None = None
    tuned: dict[str, torch.Tensor] | None = None
    target: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    psnr: torch.Tensor | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    stage_psnr: dict[str, torch.Tensor] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    generator_name: str | None = None
    anchor: torch.Tensor | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    crop_box: torch.Tensor | None = None
    crop_scale: torch.Tensor | None = None
    # module copies with the tuned parameters, shared by slices of this inversion
    _modules: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.latents, torch.Tensor) or self.latents.ndim < 2 or len(self.latents) == 0:
            got = tuple(self.latents.shape) if isinstance(self.latents, torch.Tensor) else type(self.latents).__name__
            raise InvalidInputError(f"Inversion.latents must be a tensor (N, *latent_shape) with N >= 1; got {got}")
        n = len(self.latents)
        if (self.layer is None) != (self.features is None):
            raise InvalidInputError(
                f"Inversion: layer and features go together; got layer={self.layer!r} and "
                f"features {'None' if self.features is None else tuple(self.features.shape)}"
            )
        for name in ("features", "target", "reconstruction", "psnr", "anchor", "crop_box", "crop_scale"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, torch.Tensor) or len(value) != n):
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise InvalidInputError(f"Inversion.{name} must be a tensor with one entry per image ({n}); got {got}")
        if self.features is not None and self.features.ndim != 4:
            raise InvalidInputError(f"Inversion.features must be (N, C, H, W); got {tuple(self.features.shape)}")
        for name, width in (("crop_box", 4), ("crop_scale", 2)):
            value = getattr(self, name)
            if value is not None and (value.ndim != 2 or value.shape[1] != width or not value.dtype.is_floating_point):
                raise InvalidInputError(f"Inversion.{name} must be a float tensor (N, {width}); got {describe(value)}")
        if self.anchor is not None and self.anchor.shape != self.latents.shape:
            raise InvalidInputError(
                f"Inversion.anchor must have the latents' shape {tuple(self.latents.shape)}; got {tuple(self.anchor.shape)}"
            )
        if self.tuned is not None and not (
            isinstance(self.tuned, Mapping) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in self.tuned.items())
        ):
            raise InvalidInputError("Inversion.tuned must map parameter names (str) to tensors")

    # ------------------------------------------------------------- latents-like
    def __len__(self) -> int:
        return len(self.latents)

    @property
    def shape(self) -> torch.Size:
        """The latents' shape (N, *latent_shape)."""
        return self.latents.shape

    @property
    def ndim(self) -> int:
        return self.latents.ndim

    @property
    def device(self) -> torch.device:
        return self.latents.device

    @property
    def dtype(self) -> torch.dtype:
        return self.latents.dtype

    def __getitem__(self, index: Any) -> Inversion:
        """The inversion of some images: an int keeps a batch of one (unlike a tensor)."""
        if isinstance(index, (bool, np.bool_)):
            raise InvalidTypeError(f"an Inversion is indexed by ints, slices, index lists or masks; got {index!r}")
        if is_int(index) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise InvalidIndexError(f"image {i} out of range for an inversion of {len(self)} images (indices -{len(self)} … {len(self) - 1})")
            index = slice(i % len(self), i % len(self) + 1)
        elif not isinstance(index, slice):
            index = torch.as_tensor(index)
            if index.dtype == torch.bool:
                if index.shape != (len(self),):
                    raise InvalidIndexError(f"a boolean mask over {len(self)} images expected; got shape {tuple(index.shape)}")
                index = index.nonzero().flatten()
            if index.ndim != 1 or index.dtype.is_floating_point:
                raise InvalidIndexError(f"an Inversion is indexed by ints, slices, 1-D index lists or masks; got {describe(index)}")
            index = index.long()
        return self._select(index)

    def _select(self, index: slice | torch.Tensor) -> Inversion:
        if len(range(len(self))[index] if isinstance(index, slice) else index) == 0:
            raise InvalidIndexError(f"the index selects no image of an inversion of {len(self)}; at least one expected")
        def pick(value: torch.Tensor | None) -> torch.Tensor | None:
            if value is None:
                return None
            return value[index] if isinstance(index, slice) else value[index.to(value.device)]

        picked = replace(
            self,
            latents=pick(self.latents),
            features=pick(self.features),
            target=pick(self.target),
            reconstruction=pick(self.reconstruction),
            psnr=pick(self.psnr),
            anchor=pick(self.anchor),
            crop_box=pick(self.crop_box),
            crop_scale=pick(self.crop_scale),
            stage_psnr={k: pick(v) for k, v in self.stage_psnr.items()},
            _modules=self._modules,
        )
        return picked

    def repeat(self, *sizes: int) -> Inversion:
        """Tile the images ``sizes[0]`` times, as ``latents.repeat(n, 1, …)`` tiles latents."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
            sizes = tuple(sizes[0])
        if not sizes or any(int(s) != 1 for s in sizes[1:]) or int(sizes[0]) < 1:
            raise InvalidInputError(f"an Inversion repeats along its image axis only: repeat(n, 1, …); got {sizes}")
        return self._select(torch.arange(len(self)).repeat(int(sizes[0])))

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Inversion:
        """A copy on ``device`` with floating tensors in ``dtype`` (both optional)."""

        def move(value: torch.Tensor | None) -> torch.Tensor | None:
            if value is None:
                return None
            return value.to(device=device, dtype=dtype if dtype is not None and value.dtype.is_floating_point else None)

        if (device is None or torch.device(device) == self.device) and (dtype is None or dtype == self.dtype):
            return self
        return replace(
            self,
            latents=move(self.latents),
            features=move(self.features),
            tuned=None if self.tuned is None else {k: move(v) for k, v in self.tuned.items()},
            target=move(self.target),
            reconstruction=move(self.reconstruction),
            anchor=move(self.anchor),
            _modules={},
        )

    def moved(self, latents: torch.Tensor) -> Inversion:
        """This inversion with new latents (same shape); the stored features keep their residual.

        See the module docstring: the inversion layer then gets ``stored + f(latents) −
        f(anchor)``. :func:`panda_viz.apply_direction` calls this.
        """
        if not isinstance(latents, torch.Tensor) or latents.shape != self.latents.shape:
            got = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
            raise InvalidInputError(f"moved latents must have the inversion's shape {tuple(self.latents.shape)}; got {got}")
        anchor = self.anchor if self.anchor is not None else self.latents
        return replace(self, latents=latents, anchor=anchor if self.layer is not None else None, _modules=self._modules)

    def __repr__(self) -> str:
        psnr = "" if self.psnr is None else f", psnr={[round(float(p), 2) for p in self.psnr[:4]]}{'…' if len(self) > 4 else ''}"
        tuned = "" if not self.tuned else f", tuned={len(self.tuned)} tensors"
        return (f"Inversion(n={len(self)}, generator_name={self.generator_name!r}, layer={self.layer!r}{tuned}{psnr}"
                f"{', moved' if self.anchor is not None else ''})")

    # --------------------------------------------------------------- checks
    def check_for(self, generator: Any) -> Inversion:
        """This inversion on ``generator``'s device, after checking it fits the generator.

        Raises
        ------
        InvalidInputError
            Another generator's inversion, latents of another shape, an inversion layer the
            generator lacks or features of another shape, tuned parameters it does not have.
        """
        name = getattr(generator, "name", None)
        if self.generator_name is not None and name is not None and self.generator_name != name:
            raise InvalidInputError(f"the inversion was made with generator {self.generator_name!r}; got generator {name!r}")
        if tuple(self.latents.shape[1:]) != tuple(generator.latent_shape):
            raise InvalidInputError(
                f"the inversion's latents have shape {tuple(self.latents.shape[1:])}; generator {name!r} takes "
                f"{tuple(generator.latent_shape)}"
            )
        if self.layer is not None:
            shape = generator.check_layer(self.layer)
            if tuple(self.features.shape[1:]) != tuple(shape):
                raise InvalidInputError(
                    f"the inversion's features at layer {self.layer!r} have shape {tuple(self.features.shape[1:])}; "
                    f"the generator's layer has {tuple(shape)}"
                )
        if self.tuned:
            parameters = dict(generator.module.named_parameters())
            for key, value in self.tuned.items():
                if key not in parameters:
                    raise InvalidInputError(f"the inversion tunes parameter {key!r}, which generator {name!r} does not have")
                if value.shape != parameters[key].shape:
                    raise InvalidInputError(
                        f"the inversion's tuned {key!r} has shape {tuple(value.shape)}; the generator's has "
                        f"{tuple(parameters[key].shape)}"
                    )
        dtype = None
        for parameter in generator.module.parameters():
            dtype = parameter.dtype
            break
        return self.to(generator.device, dtype)

    def bind_module(self, module: nn.Module, twin: nn.Module) -> None:
        """Run passes on ``module`` through ``twin``, a :func:`tuned_module` of it whose
        parameters named in :attr:`tuned` *are* those tensors (pivotal tuning optimises them
        in place this way)."""
        twin_parameters = dict(twin.named_parameters())
        if not self.tuned or any(twin_parameters.get(k) is not v for k, v in self.tuned.items()):
            raise InvalidInputError("bind_module needs a module copy whose parameters are this inversion's tuned tensors")
        self._modules["module"] = (weakref.ref(module), self.tuned, twin)

    def module_for(self, module: nn.Module) -> nn.Module:
        """``module`` itself, or (with tuned parameters) its copy holding them, cached."""
        if not self.tuned:
            return module
        cached = self._modules.get("module")
        if cached is not None and cached[0]() is module and cached[1] is self.tuned:
            return cached[2]
        twin = tuned_module(module, self.tuned)
        self._modules["module"] = (weakref.ref(module), self.tuned, twin)
        return twin


# ------------------------------------------------------------------- tuned copies
def tuned_module(module: nn.Module, tuned: Mapping[str, torch.Tensor], *, trainable: bool = False) -> nn.Module:
    """A copy of ``module``'s tree in which the parameters named in ``tuned`` have those values.

    Only the module objects are copied: every other parameter and every buffer is shared
    with ``module`` (no memory is duplicated), and ``module`` itself is not changed. Hooks
    registered on ``module`` are not carried over.

    Parameters
    ----------
    module : nn.Module
    tuned : mapping of parameter name to Tensor
        New values (copied into fresh parameters).
    trainable : bool
        Make the fresh parameters require gradients (pivotal tuning optimises them).
    """
    parameters = dict(module.named_parameters())
    unknown = [k for k in tuned if k not in parameters]
    if unknown:
        raise InvalidInputError(f"tuned parameters {unknown[:3]} are not parameters of {type(module).__name__}")
    memo: dict[int, Any] = {id(b): b for b in module.buffers()}
    for name, parameter in parameters.items():
        if name in tuned:
            value = tuned[name].detach().to(parameter.device, parameter.dtype).clone()
            memo[id(parameter)] = nn.Parameter(value, requires_grad=trainable)
        else:
            memo[id(parameter)] = parameter
    twin = copy.deepcopy(module, memo)
    for sub in twin.modules():
        # hooks are global state of the caller's module (maybe another thread's, active now): not ours
        for attribute in hooks.MODULE_HOOK_TABLES:
            hooks_dict = getattr(sub, attribute, None)
            if hasattr(hooks_dict, "clear"):
                hooks_dict.clear()
    return twin


# ------------------------------------------------------------------- the pass
def _refuse_earlier(inversion: Inversion, layers: list[str], touched: list[str]) -> None:
    order = {name: i for i, name in enumerate(layers)}
    start = order[inversion.layer]
    for layer in touched:
        if layer in order and order[layer] < start:
            raise InvalidInputError(
                f"layer {layer!r} comes before the inversion's layer {inversion.layer!r}: the photo is only "
                f"known from {inversion.layer!r} on, so {layer!r} cannot be read or edited on it (invert with "
                f"layer={layer!r}, or use a layer from {inversion.layer!r} on)"
            )


@contextmanager
def inversion_pass(
    module: nn.Module,
    layers: list[str],
    inversion: Inversion,
    replacements: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    *,
    reads: tuple[str, ...] = (),
) -> Iterator[nn.Module]:
    """Hooks that replay ``inversion`` (one batch of it); yields the module to run its latents on.

    Parameters
    ----------
    module : nn.Module
        The generator's module (never modified).
    layers : list of str
        The generator's layers in forward order.
    inversion : Inversion
        The batch (already checked against the generator).
    replacements : mapping of layer to function
        Edits of this pass (see :func:`panda_viz.generators.hooks.replace`); one at the
        inversion layer applies to the stored features.
    forward : callable
        ``forward(module, latents) -> images``, to find the anchor's features of a moved
        inversion.
    reads : tuple of str
        Layers the caller captures (checked like edited layers).

    Raises
    ------
    InvalidInputError
        An edited or read layer that comes before the inversion layer.
    """
    target = inversion.module_for(module)
    layer = inversion.layer
    if layer is None:
        with hooks.replace(target, replacements):
            yield target
        return
    _refuse_earlier(inversion, layers, [*replacements, *reads])
    stored = inversion.features
    if inversion.anchor is not None:
        with torch.no_grad(), hooks.capture(target, layer) as captured, hooks.stop_after(target, layer):
            try:
                forward(target, inversion.anchor)
            except StopForward:
                pass
        anchor_features = captured[layer]

        def restored(features: torch.Tensor) -> torch.Tensor:
            return stored + (features - anchor_features)
    else:

        def restored(features: torch.Tensor) -> torch.Tensor:
            return stored

    edit = replacements.get(layer)
    combined = dict(replacements)
    combined[layer] = (lambda f: restored(f)) if edit is None else (lambda f: edit(restored(f).clone()))
    with hooks.replace(target, combined):
        yield target
