"""Forward-hook context managers: capture a layer's output, replace it, stop the pass early.

Every hook is registered inside a context manager and removed in ``finally``, so an
exception in the forward pass never leaves a hook behind (hooks are global state on a
module). Layers are addressed by module path, exactly as ``named_modules()`` spells them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from .._checks import did_you_mean
from ..exceptions import InvalidInputError, InvalidTypeError, StopForward

#: The per-module tables where ``torch.nn.Module`` keeps registered hooks (those present in
#: the installed torch are used): code that must run a module without anyone's hooks swaps
#: or clears them, here named once.
MODULE_HOOK_TABLES = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
                      "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_backward_hooks")

__all__ = ["StopForward", "capture", "replace", "stop_after", "first_tensor", "MODULE_HOOK_TABLES"]


def first_tensor(output: Any) -> torch.Tensor:
    """The feature map in a module's output: the tensor itself, or a tuple's first element."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise InvalidTypeError(
        f"expected a module output that is a tensor or a tuple starting with one; "
        f"got {type(output).__name__}"
    )


def _with_first(output: Any, tensor: torch.Tensor) -> Any:
    """``output`` with its feature map swapped for ``tensor`` (tuples keep their other items)."""
    if isinstance(output, torch.Tensor):
        return tensor
    return type(output)([tensor, *output[1:]]) if isinstance(output, list) else (tensor, *output[1:])


def _submodule(module: nn.Module, name: str) -> nn.Module:
    try:
        return module.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n]
        hint = did_you_mean(name, names)
        raise InvalidInputError(
            f"layer {name!r} not found in {type(module).__name__}{hint + ' Modules' if hint else '; modules'}: "
            f"{', '.join(names[:40])}{' …' if len(names) > 40 else ''}"
        ) from None


@contextmanager
def _forward_hook(module: nn.Module, name: str, hook: Callable) -> Iterator[None]:
    handle = _submodule(module, name).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def capture(module: nn.Module, layers: str | list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the feature maps of ``layers`` during forward passes inside the block.

    Yields a dict, filled as the layers run, from layer name to a *clone* of its output
    (the first element when the module returns a tuple). Cloning matters: a following
    in-place activation (DCGAN's ``ReLU(inplace=True)``) would otherwise overwrite what
    was captured.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    captured: dict[str, torch.Tensor] = {}

    def make_hook(layer: str) -> Callable:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            captured[layer] = first_tensor(output).clone()

        return hook

    with ExitStack() as stack:
        for layer in names:
            stack.enter_context(_forward_hook(module, layer, make_hook(layer)))
        yield captured


@contextmanager
def replace(
    module: nn.Module, replacements: Mapping[str, Callable[[torch.Tensor], torch.Tensor]]
) -> Iterator[None]:
    """Replace layer outputs during forward passes inside the block.

    ``replacements`` maps a layer name to a function of its feature map returning the new
    feature map (same shape). The input is a clone, so the function may work in place, and
    what it returns is never altered by a later in-place activation of the caller's tensor.
    """

    def make_hook(layer: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            features = first_tensor(output)
            new = fn(features.clone())
            if not isinstance(new, torch.Tensor) or new.shape != features.shape:
                got = tuple(new.shape) if isinstance(new, torch.Tensor) else type(new).__name__
                raise InvalidInputError(
                    f"replacement at layer {layer!r} must return a tensor of shape "
                    f"{tuple(features.shape)}; got {got}"
                )
            return _with_first(output, new.to(features.dtype).clone())

        return hook

    with ExitStack() as stack:
        for layer, fn in replacements.items():
            stack.enter_context(_forward_hook(module, layer, make_hook(layer, fn)))
        yield


@contextmanager
def stop_after(module: nn.Module, layer: str) -> Iterator[None]:
    """End forward passes inside the block as soon as ``layer`` has run.

    The pass raises :class:`StopForward`; catch it around the call (hooks registered
    before this one, such as :func:`capture`'s on the same layer, have already run).
    """

    def hook(_module: nn.Module, _inputs: Any, _output: Any) -> None:
        raise StopForward(layer)

    with _forward_hook(module, layer, hook):
        yield
