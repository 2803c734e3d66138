"""The architecture-agnostic :class:`Generator`: a ``torch.nn.Module`` plus a latent sampler.

Feature maps are read and written with forward hooks (:mod:`panda_viz.generators.hooks`);
no forward pass is patched, so any module whose layers return 4-D tensors (or tuples
starting with one) works unchanged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, Union

import torch
from torch import nn

from .._checks import (
    as_rng,
    check_float,
    check_has_data,
    check_int,
    describe,
    did_you_mean,
)
from ..exceptions import (
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    NonFiniteWarning,
)
from ..runtime.devices import check_device, check_memory
from ..runtime.progress import progress as _progress
from . import hooks
from .edit_maps import EditMap, edit_replacements
from .finite import all_finite, non_finite_samples, non_finite_weights, warn_non_finite
from .inverted import Inversion, inversion_pass
from .shapes import ForwardProfile, profile_forward

__all__ = ["Generator", "Latents", "DEFAULT_MEMORY_BUDGET", "MAX_AUTO_BATCH"]

#: Bytes the intermediate tensors of one forward pass may take when batch sizes are chosen
#: automatically: 4 GiB, which leaves a 16 GB laptop room for the weights, the results, the
#: notebook and the browser. Set ``Generator.memory_budget`` to change it.
DEFAULT_MEMORY_BUDGET = 4 * 2**30

#: The largest batch chosen automatically (small generators fit far more in the budget; a
#: larger batch is not faster on a CPU and gives results that are no different).
MAX_AUTO_BATCH = 128

#: What every entry point takes as latents: a tensor (N, *latent_shape), or an
#: :class:`~panda_viz.generators.inverted.Inversion` of N photos.
Latents = Union[torch.Tensor, Inversion]


def _normal_sampler(shape: tuple[int, ...]) -> Callable[[int, torch.Generator], torch.Tensor]:
    def sample(n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn((n, *shape), generator=rng)

    return sample


def _check_latent_shape(latent_shape: Any) -> tuple[int, ...]:
    """``latent_shape`` as a non-empty tuple of positive ints."""
    try:
        entries = tuple(latent_shape)
    except TypeError:
        raise InvalidTypeError(f"latent_shape must be a tuple of positive ints; got {describe(latent_shape)}") from None
    if not entries or isinstance(latent_shape, str):
        raise InvalidInputError(f"latent_shape must be a non-empty tuple of positive ints; got {describe(latent_shape)}")
    return tuple(check_int(f"latent_shape[{i}]", s, low=1) for i, s in enumerate(entries))


class Generator:
    """A pretrained generator with hookable layers.

    Parameters
    ----------
    module : torch.nn.Module
        The network. ``forward(module, latents)`` must return images (N, 3, H, W).
    latent_shape : tuple of int
        Shape of one latent, e.g. ``(100, 1, 1)`` for a DCGAN or ``(512,)`` for StyleGAN.
    name : str, optional
        Shown in reprs and stored with saved factors.
    forward : callable, optional
        ``forward(module, latents) -> images``; defaults to ``module(latents)``. Style-based
        generators pass one that maps z to w with truncation, then synthesises.
    sampler : callable, optional
        ``sampler(n, rng: torch.Generator) -> latents`` on the CPU; defaults to N(0, I).
    downstream_needs_latents : bool
        True when layers after a hooked one also read the latent (style-based generators):
        then :meth:`synthesize_from` needs the latents. False for plain feed-forward chains
        such as DCGAN and PGGAN, where a layer's output determines the image.
    device : str or torch.device
        Where the module runs (CPU by default).
    memory_budget : int or float, optional
        Bytes that the intermediate tensors of one forward pass may take (default
        :data:`DEFAULT_MEMORY_BUDGET`, 4 GiB). Methods given ``batch_size=None`` (their
        default) run as many samples a pass as fit (:meth:`batch_size_for`), at least one and
        at most :data:`MAX_AUTO_BATCH`.

    Attributes
    ----------
    module : torch.nn.Module
        The wrapped network, in eval mode with gradients off for its parameters.
    memory_budget : int
        As above; may be set at any time.
    """

    def __init__(
        self,
        module: nn.Module,
        latent_shape: tuple[int, ...],
        *,
        name: str | None = None,
        forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
        sampler: Callable[[int, torch.Generator], torch.Tensor] | None = None,
        downstream_needs_latents: bool = False,
        device: str | torch.device = "cpu",
        memory_budget: int | float | None = None,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise InvalidTypeError(f"expected a torch.nn.Module; got {type(module).__name__}")
        latent_shape = _check_latent_shape(latent_shape)
        device = check_device(device, name="Generator: device")
        self.module = module.eval().requires_grad_(False).to(device)
        self.latent_shape = latent_shape
        self.name = name or type(module).__name__
        self._forward = forward or (lambda m, z: m(z))
        self._sampler = sampler or _normal_sampler(latent_shape)
        self.downstream_needs_latents = downstream_needs_latents
        self.memory_budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
        self._profile: ForwardProfile | None = None
        bad = non_finite_weights(self.module)
        if bad:
            warnings.warn(
                f"generator {self.name!r} has NaN or infinite weights in {len(bad)} tensors ({', '.join(bad[:5])}"
                f"{' …' if len(bad) > 5 else ''}); its images will likely be NaN",
                NonFiniteWarning,
                stacklevel=2,
            )

    # ------------------------------------------------------------------ basics
    def __repr__(self) -> str:
        return f"Generator({self.name!r}, latent_shape={self.latent_shape}, device={str(self.device)!r})"

    @property
    def device(self) -> torch.device:
        """The device of the module's first parameter or buffer (CPU if it has none)."""
        for tensor in (*self.module.parameters(), *self.module.buffers()):
            return tensor.device
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> Generator:
        """Move the module to ``device``; returns ``self``."""
        self.module.to(check_device(device, name="Generator.to: device"))
        return self

    # ------------------------------------------------------- shapes and memory
    @property
    def layers(self) -> dict[str, tuple[int, int, int]]:
        """Hookable layers in forward order: module name -> feature shape (C, H, W).

        A layer is any named sub-module whose output is a 4-D tensor (or a tuple starting
        with one). Learnt once, without running the generator (see :attr:`forward_profile`).
        """
        return dict(self.forward_profile.layers)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape (3, H, W) of one output image, learnt once with :attr:`layers`."""
        return self.forward_profile.image_shape

    @property
    def forward_profile(self) -> ForwardProfile:
        """Layer shapes, image shape and activation memory of the forward pass (cached).

        Propagated on the ``meta`` device, which costs no arithmetic and no memory; a module
        that cannot run there is profiled by one real pass on one latent instead. See
        :func:`panda_viz.generators.shapes.profile_forward`.
        """
        if self._profile is None:
            self._profile = profile_forward(
                self.module, self._forward, self.latent_shape, lambda n: self.sample_latents(n, seed=0)
            )
        return self._profile

    @property
    def memory_budget(self) -> int:
        """Bytes the intermediate tensors of one forward pass may take (see the class docs)."""
        return self._memory_budget

    @memory_budget.setter
    def memory_budget(self, value: int | float) -> None:
        self._memory_budget = int(check_float("memory_budget (bytes)", value, low=1, strict=False))

    def batch_size_for(self, layer: str | None = None, *, at_most: int = MAX_AUTO_BATCH) -> int:
        """Samples a pass whose intermediate tensors fit in :attr:`memory_budget`.

        Parameters
        ----------
        layer : str, optional
            For passes stopped after this layer (:meth:`features`); whole passes otherwise.
        at_most : int
            Upper bound.

        Returns
        -------
        int
            Between 1 and ``at_most``; 1 when even one sample needs more than the budget.
        """
        if layer is not None:
            self.check_layer(layer)
        return self.forward_profile.batch_size(self.memory_budget, layer, at_most=at_most)

    def check_layer(self, layer: str) -> tuple[int, int, int]:
        """Check that ``layer`` names one of :attr:`layers` and return its feature shape.

        Parameters
        ----------
        layer : str
            Module name, a key of :attr:`layers`.

        Returns
        -------
        tuple of int
            ``(C, H, W)`` of the features this layer outputs.

        Raises
        ------
        InvalidTypeError
            ``layer`` is not a string (a ``TypeError``).
        InvalidInputError
            ``layer`` is not one of :attr:`layers`; the message lists them with their shapes.
        """
        if not isinstance(layer, str):
            raise InvalidTypeError(f"layer must be a module name (str); got {type(layer).__name__}")
        layers = self.layers
        if layer not in layers:
            listing = ", ".join(f"{n} ({'×'.join(map(str, s))})" for n, s in layers.items())
            hint = did_you_mean(layer, layers)
            raise InvalidInputError(f"layer {layer!r} not found{hint + ' Layers' if hint else '; layers'}: {listing}")
        return layers[layer]

    # ----------------------------------------------------------------- latents
    def sample_latents(
        self, n: int, seed: int | None = None, *, rng: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``n`` latents (n, *latent_shape), reproducible from ``seed``.

        Sampling happens on the CPU with its own ``torch.Generator`` (no global seed is
        touched), so a seed gives the same latents on every device.

        Parameters
        ----------
        n : int
            How many latents.
        seed : int or torch.Generator, optional
            Seed of a fresh CPU ``torch.Generator``, in [0, 2**63 − 1]; random when neither it
            nor ``rng`` is given (:func:`panda_viz._checks.as_rng`).
        rng : torch.Generator, optional
            A CPU generator to draw from instead (advanced by the draw); ``seed`` is then ignored.

        Returns
        -------
        Tensor (n, *latent_shape)
            On the generator's device.

        Raises
        ------
        ResourceLimitError
            ``n`` latents (float32) past :attr:`memory_budget` or the memory free on the
            CPU or the device: the message says how many fit.
        """
        n = check_int("n", n, low=1)
        each = 4 * math.prod(self.latent_shape)
        for device in dict.fromkeys((torch.device("cpu"), self.device)):  # drawn on the CPU, then moved
            check_memory(f"{self.name}: sample_latents(n={n:,})", n, each, device=device, budget=self.memory_budget,
                         budget_name="the generator's memory_budget (raise G.memory_budget to draw more at once)",
                         unit="latents")
        if rng is None:
            rng = as_rng(seed, "seed")
        elif not isinstance(rng, torch.Generator):
            raise InvalidTypeError(f"rng must be a torch.Generator or None; got {type(rng).__name__}")
        return self._sampler(n, rng).to(self.device)

    def check_latents(self, latents: Latents) -> Latents:
        """Validate latents, accepting (N, *latent_shape) or flat (N, prod(latent_shape)).

        Returns them with shape (N, *latent_shape) on the generator's device, in its dtype
        (float64 latents for a float32 generator are cast). An
        :class:`~panda_viz.generators.inverted.Inversion` is checked against this generator
        (:meth:`Inversion.check_for`) and returned on its device.

        Raises
        ------
        InvalidTypeError
            Not a tensor, or not floating point.
        InvalidInputError
            The wrong shape.
        NonFiniteError
            NaN or infinite values (they would give NaN images).
        """
        if isinstance(latents, Inversion):
            return latents.check_for(self)
        if not isinstance(latents, torch.Tensor):
            raise InvalidTypeError(
                f"latents must be a torch.Tensor of shape (N, {self._shape_text()}); got {type(latents).__name__}"
            )
        if not latents.is_floating_point():
            raise InvalidTypeError(
                f"latents must be a floating-point tensor (e.g. from G.sample_latents); got dtype {latents.dtype}"
            )
        check_has_data("latents", latents)
        shape = tuple(latents.shape)
        if shape[1:] == self.latent_shape and len(shape) >= 2 and shape[0] > 0:
            out = latents
        elif latents.ndim == 2 and shape[0] > 0 and shape[1] == math.prod(self.latent_shape):
            out = latents.reshape(shape[0], *self.latent_shape)
        else:
            raise InvalidInputError(
                f"latents of shape (N, {self._shape_text()}) expected for generator {self.name!r}; got {shape}"
            )
        if not all_finite(out):
            bad = non_finite_samples(out)
            raise NonFiniteError(
                f"latents hold NaN or infinite values in sample(s) {', '.join(map(str, bad[:5]))}"
                f"{' …' if len(bad) > 5 else ''} of {shape[0]}"
            )
        return out.to(device=self.device, dtype=self._dtype())

    def _dtype(self) -> torch.dtype:
        """The dtype of the module's first floating parameter or buffer (float32 if none)."""
        for tensor in (*self.module.parameters(), *self.module.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.float32

    def _shape_text(self) -> str:
        return ", ".join(map(str, self.latent_shape))

    # ---------------------------------------------------------------- forward
    def _batches(
        self, n: int, batch_size: int | None, progress: bool | None, desc: str, layer: str | None = None
    ) -> Iterator[slice]:
        if batch_size is None:  # as many as fit in the memory budget
            batch_size = self.batch_size_for(layer)
        batch_size = check_int("batch_size", batch_size, low=1)
        starts = range(0, n, batch_size)
        for start in _progress(starts, total=len(starts), enabled=progress, n_samples=n, desc=desc):
            yield slice(start, min(start + batch_size, n))

    def features(
        self, latents: Latents, layer: str,
        *, batch_size: int | None = None, progress: bool | None = None, edits: EditMap | None = None,
    ) -> torch.Tensor:
        """Feature maps (N, C, H, W) of ``layer``, stopping each forward pass there.

        Parameters
        ----------
        latents : Tensor (N, *latent_shape) or Inversion
            An inversion gives its photos' features (from its layer on; an earlier layer
            is refused).
        layer : str
            A key of :attr:`layers`.
        batch_size : int or None
            Samples per forward pass; ``None``: as many as fit in :attr:`memory_budget`.
        progress : bool or None
            Show a progress bar (``None``: for a thousand samples or more).
        edits : mapping, optional
            Edits of earlier layers, as in :meth:`synthesize`.
        """
        return torch.cat(list(self.iter_features(latents, layer, batch_size=batch_size, progress=progress, edits=edits)))

    def iter_features(
        self, latents: Latents, layer: str,
        *, batch_size: int | None = None, progress: bool | None = None, edits: EditMap | None = None,
    ) -> Iterator[torch.Tensor]:
        """Feature maps of ``layer`` batch by batch: (batch_size, C, H, W) tensors.

        The streaming form of :meth:`features`, for fitting on more samples than fit in
        memory: ``PandA().fit(G.iter_features(z, "main.8"))``. Arguments as there.
        """
        self.check_layer(layer)
        latents = self.check_latents(latents)
        for part in self._batches(len(latents), batch_size, progress, f"features {layer}", layer):
            replacements = edit_replacements(edits, self.check_layer, part, len(latents))
            with torch.no_grad(), self._pass(latents[part], replacements, reads=(layer,)) as (module, batch), \
                    hooks.capture(module, layer) as captured, hooks.stop_after(module, layer):
                try:
                    self._forward(module, batch)
                except hooks.StopForward:
                    pass
            yield captured[layer]

    def synthesize(
        self,
        latents: Latents,
        edits: EditMap | None = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
        grad: bool = False,
    ) -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1], optionally with edited feature maps.

        Parameters
        ----------
        latents : Tensor (N, *latent_shape) or Inversion
            An inversion's pass replays its photos (an edit at its layer applies to the
            stored features; an edit before its layer is refused).
        edits : mapping, optional
            Layer name -> additive delta of shape (C, H, W) or (N, C, H, W), or a function
            of the feature map (n, C, H, W) returning the new one.
        batch_size : int or None
            Samples per forward pass; ``None``: as many as fit in :attr:`memory_budget`.
        progress : bool or None
            Show a progress bar (``None``: for a thousand samples or more).
        grad : bool
            Record autograd (for Jacobian-based methods); off by default.
        """
        latents = self.check_latents(latents)
        out = []
        for part in self._batches(len(latents), batch_size, progress, "synthesize"):
            replacements = edit_replacements(edits, self.check_layer, part, len(latents))
            with torch.set_grad_enabled(grad), self._pass(latents[part], replacements) as (module, batch):
                out.append(self._forward(module, batch))
        return warn_non_finite(torch.cat(out), "synthesize")

    def synthesize_from(
        self,
        layer: str,
        features: torch.Tensor,
        latents: Latents | None = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
        grad: bool = False,
    ) -> torch.Tensor:
        """Images from given feature maps (N, C, H, W) at ``layer``.

        For feed-forward generators the rest of the pass depends on the layer's output
        alone and ``latents`` may be omitted; style-based generators also read the latent
        after the layer and need it. ``latents`` may be an Inversion: the rest of the pass
        then uses its tuned parameters (``layer`` at or after its inversion layer).
        """
        shape = self.check_layer(layer)
        if not isinstance(features, torch.Tensor) or features.ndim != 4 or tuple(features.shape[1:]) != shape:
            got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise InvalidInputError(f"features of shape (N, {', '.join(map(str, shape))}) expected at layer {layer!r}; got {got}")
        check_has_data("features", features)
        if latents is None:
            if self.downstream_needs_latents:
                raise InvalidInputError(
                    f"generator {self.name!r} reads the latent after layer {layer!r}: pass the latents "
                    "the features came from"
                )
            latents = torch.zeros((len(features), *self.latent_shape), device=self.device)
        latents = self.check_latents(latents)
        if len(latents) != len(features):
            raise InvalidInputError(f"{len(features)} feature maps but {len(latents)} latents; one latent per feature map expected")
        features = features.to(self.device)
        out = []
        for part in self._batches(len(latents), batch_size, progress, "synthesize"):
            block = features[part]
            with torch.set_grad_enabled(grad), self._pass(latents[part], {layer: lambda _f, b=block: b}) as (module, batch):
                out.append(self._forward(module, batch))
        return warn_non_finite(torch.cat(out), "synthesize_from")

    @contextmanager
    def _pass(
        self, batch: Latents, replacements: Mapping[str, Callable], *, reads: tuple[str, ...] = ()
    ) -> Iterator[tuple[nn.Module, torch.Tensor]]:
        """Hooks for one forward pass of ``batch``; yields (module to run, latents to run it on).

        The one place where latents and inversions part ways: latents run through
        :attr:`module` with ``replacements`` hooked; an inversion through
        :func:`~panda_viz.generators.inverted.inversion_pass` (its stored features at its
        layer, then the replacements; its tuned parameters).
        """
        if isinstance(batch, Inversion):
            with inversion_pass(self.module, list(self.layers), batch, replacements, self._forward, reads=reads) as module:
                yield module, batch.latents
            return
        with hooks.replace(self.module, replacements) if replacements else nullcontext():
            yield self.module, batch
