"""What a generator's forward pass produces and needs, learnt without running it for real.

:func:`profile_forward` runs the pass on PyTorch's ``meta`` device: every parameter and
buffer is swapped for a meta tensor of the same shape and dtype (``torch.func.functional_call``,
so the module itself is neither copied nor moved), and the latents are meta tensors too.
Meta tensors carry shapes and dtypes but no data, so the pass does no arithmetic and
allocates nothing, whatever the generator's size: a 1024-pixel StyleGAN3 profiles in
under a second and a few MB. Along the way it records

- the (C, H, W) of every sub-module whose output is a 4-D tensor (the hookable layers),
  in forward order, and the shape of one image;
- the bytes of the intermediate tensors alive at each moment, as the real pass would hold
  them (a ``TorchFunctionMode`` counts every new storage and finalisers uncount it when
  its last tensor is freed), at batch sizes 1 and 2: the peak of a whole pass, and of a pass stopped after
  each layer, as ``fixed + per_sample * n`` bytes. Batch sizes are chosen from these.

A module that cannot run on ``meta`` (its forward reads tensor values, say, or mixes in
tensors it keeps outside its parameters and buffers) is profiled instead by one real pass
on one latent; a :class:`~panda_viz.generators.Generator` does either once and caches it.
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode

from .hooks import MODULE_HOOK_TABLES, first_tensor

__all__ = ["ForwardProfile", "profile_forward", "meta_twin_state"]


@dataclass(frozen=True)
class ForwardProfile:
    """Shapes and memory of a generator's forward pass.

    Attributes
    ----------
    layers : dict of str -> (C, H, W)
        Sub-modules whose output is a 4-D tensor (or a tuple starting with one), in forward
        order, with the shape of one sample's feature map.
    image_shape : tuple of int
        Shape of one output image, e.g. (3, 1024, 1024).
    method : {"meta", "forward"}
        How it was learnt: on the meta device, or by one real pass on one latent.
    pass_bytes : (float, float)
        Peak bytes of the intermediate tensors of a whole pass of n samples, as
        ``(fixed, per_sample)``: ``fixed + per_sample * n``.
    layer_bytes : dict of str -> (float, float)
        The same for a pass stopped right after each layer, counting the copy of the
        layer's output that is kept.
    """

    layers: dict[str, tuple[int, int, int]]
    image_shape: tuple[int, ...]
    method: str
    pass_bytes: tuple[float, float]
    layer_bytes: dict[str, tuple[float, float]] = field(default_factory=dict)

    def batch_bytes(self, n: int, layer: str | None = None) -> float:
        """Estimated peak bytes of one pass of ``n`` samples (stopped after ``layer`` if given)."""
        fixed, per_sample = self.pass_bytes if layer is None else self.layer_bytes[layer]
        return fixed + per_sample * n

    def batch_size(self, budget: float, layer: str | None = None, *, at_most: int = 128) -> int:
        """The largest batch (1 … ``at_most``) whose pass fits in ``budget`` bytes; 1 if none does."""
        fixed, per_sample = self.pass_bytes if layer is None else self.layer_bytes[layer]
        if per_sample <= 0:
            return at_most
        return int(min(at_most, max(1, math.floor((budget - fixed) / per_sample))))


class _LiveBytes(TorchFunctionMode):
    """Counts the bytes of the storages that tensors created inside the mode keep alive, and the peak.

    Every torch function called from Python is seen once (what it calls internally is
    not: temporaries inside one operator are missed). An output whose storage is new adds
    its size until the last tensor seen using that storage is freed; views and in-place
    results share a storage already counted (or an input's, such as a parameter's) and
    add nothing. Works alike for meta tensors (the sizes they would have) and real ones.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._users: dict[int, list[int]] = {}  # storage id -> [tensors alive using it, bytes]

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outputs = [t for t in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(t, torch.Tensor)]
        if not outputs:
            return out
        inputs = {_storage_id(t) for t in _tensors((*args, *kwargs.values()))}
        for tensor in outputs:
            key = _storage_id(tensor)
            if key in self._users:
                self._users[key][0] += 1
            elif key in inputs:
                continue
            else:
                size = tensor.untyped_storage().nbytes()
                self._users[key] = [1, size]
                self.live += size
                self.peak = max(self.peak, self.live)
            weakref.finalize(tensor, self._release, key).atexit = False
        return out

    def _release(self, key: int) -> None:
        users = self._users[key]
        users[0] -= 1
        if users[0] == 0:
            self.live -= users[1]
            del self._users[key]


def _storage_id(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage()._cdata


def _tensors(items: Any) -> list[torch.Tensor]:
    found = []
    for item in items:
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, (tuple, list)):
            found.extend(_tensors(item))
    return found


class _Call(nn.Module):
    """``forward(module, latents)`` as a module, so ``functional_call`` can swap ``module``'s state."""

    def __init__(self, module: nn.Module, forward: Callable[[nn.Module, torch.Tensor], Any]) -> None:
        super().__init__()
        self.net = module
        self.call = forward

    def forward(self, latents: torch.Tensor) -> Any:
        return self.call(self.net, latents)


@dataclass
class _Pass:
    layers: dict[str, tuple[int, int, int]]
    image_shape: tuple[int, ...]
    peak: float
    layer_peaks: dict[str, float]


def meta_twin_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Meta tensors standing in for every parameter and buffer of ``module``, by name.

    Shared tensors (tied weights) map to one shared meta tensor under each of their names.
    Costs a few hundred bytes a tensor whatever the tensors' sizes.
    """
    twins: dict[int, torch.Tensor] = {}
    state: dict[str, torch.Tensor] = {}
    named = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
    for name, tensor in named:
        if tensor is None:
            continue
        if id(tensor) not in twins:
            twins[id(tensor)] = torch.empty_like(tensor, device="meta")
        state[name] = twins[id(tensor)]
    return state


@contextmanager
def _others_hooks_suspended(module: nn.Module) -> Iterator[None]:
    """Hooks registered on ``module`` by anyone else do not fire during the profile.

    The profile may be computed lazily, in the middle of a caller's hooked pass (a
    ``capture`` or ``stop_after``, or a baseline's probe): their hooks must see only the
    caller's real tensors, never the profile's meta tensors or its batch-1 latents. The
    tables are restored, with anything registered meanwhile, in ``finally``.
    """
    saved = []
    try:
        for sub in module.modules():
            for table in MODULE_HOOK_TABLES:
                current = getattr(sub, table, None)
                if isinstance(current, dict) and current:
                    saved.append((sub, table, current))
                    setattr(sub, table, OrderedDict())
        yield
    finally:
        for sub, table, current in saved:
            current.update(getattr(sub, table))  # keep hooks registered during the profile
            setattr(sub, table, current)


def _traced_pass(module: nn.Module, run: Callable[[], Any]) -> _Pass:
    """Run ``run()`` under no_grad with shape-recording hooks on every sub-module (only those)."""
    layers: dict[str, tuple[int, int, int]] = {}
    layer_peaks: dict[str, float] = {}
    counter = _LiveBytes()

    def make_hook(name: str) -> Callable:
        def hook(_m: nn.Module, _i: Any, output: Any) -> None:
            if name in layers:
                return
            try:
                tensor = first_tensor(output)
            except TypeError:
                return
            if tensor.ndim == 4:
                layers[name] = tuple(int(s) for s in tensor.shape[1:])
                kept = tensor.numel() * tensor.element_size()  # the clone a capture keeps
                layer_peaks[name] = max(counter.peak, counter.live + kept)

        return hook

    handles = []
    with _others_hooks_suspended(module):
        try:
            for name, sub in module.named_modules():
                if name:
                    handles.append(sub.register_forward_hook(make_hook(name)))
            with torch.no_grad(), counter:
                images = first_tensor(run())
                peak = counter.peak
                image_shape = tuple(int(s) for s in images.shape[1:])
                del images
        finally:
            for handle in handles:
                handle.remove()
    return _Pass(layers, image_shape, peak, layer_peaks)


def _meta_pass(
    module: nn.Module, forward: Callable[[nn.Module, torch.Tensor], Any], latent_shape: tuple[int, ...],
    n: int, dtype: torch.dtype,
) -> _Pass:
    call = _Call(module, forward)
    state = {f"net.{name}": tensor for name, tensor in meta_twin_state(module).items()}
    latents = torch.empty((n, *latent_shape), device="meta", dtype=dtype)
    return _traced_pass(module, lambda: functional_call(call, state, (latents,), strict=False))


def _linear(one: float, two: float) -> tuple[float, float]:
    """``(fixed, per_sample)`` through the peaks at batch sizes 1 and 2."""
    per_sample = max(two - one, 0.0)
    return max(one - per_sample, 0.0), per_sample


def profile_forward(
    module: nn.Module,
    forward: Callable[[nn.Module, torch.Tensor], Any],
    latent_shape: tuple[int, ...],
    sample_latents: Callable[[int], torch.Tensor],
) -> ForwardProfile:
    """Profile ``forward(module, latents)`` on the meta device, or by one real pass if it must.

    Parameters
    ----------
    module : torch.nn.Module
        The network; it is not modified, copied or moved (its state is swapped for meta
        tensors only for the duration of the call).
    forward : callable
        ``forward(module, latents) -> images`` (N, C, H, W), or a tuple starting with them.
    latent_shape : tuple of int
        Shape of one latent.
    sample_latents : callable
        ``sample_latents(n) -> latents`` for the real pass, used only when the module
        cannot run on meta (meta latents have the default dtype).

    Returns
    -------
    ForwardProfile
    """
    dtype = torch.get_default_dtype()
    try:
        one = _meta_pass(module, forward, latent_shape, 1, dtype)
        two = _meta_pass(module, forward, latent_shape, 2, dtype)
    except Exception:  # noqa: BLE001 - any failure on meta means: learn it from a real pass
        real = _traced_pass(module, lambda: forward(module, sample_latents(1)))
        # one sample's peak, all of it counted per sample: an upper bound for larger batches
        return ForwardProfile(
            real.layers, real.image_shape, "forward", (0.0, float(real.peak)),
            {name: (0.0, float(peak)) for name, peak in real.layer_peaks.items()},
        )
    return ForwardProfile(
        one.layers, one.image_shape, "meta", _linear(one.peak, two.peak),
        {name: _linear(one.layer_peaks[name], two.layer_peaks.get(name, one.layer_peaks[name])) for name in one.layers},
    )
