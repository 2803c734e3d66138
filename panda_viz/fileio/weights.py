"""Checking a file's weights against the module a configuration builds, before allocating it.

A configuration read from a file (constructor kwargs, a ``config.json``, shapes inferred from
a state dict) can describe a network of any size. The loaders therefore build the module on
PyTorch's ``meta`` device, which allocates nothing, compare every expected parameter and
buffer (name, shape, kind of dtype) with the tensors the file really holds, and only then
materialise it from those tensors (:func:`fill_meta_module`), so memory is bounded by
what the file contains. Weights with NaN or infinite values are refused, naming them.

Examples
--------
>>> with torch.device("meta"):
...     module = StyleGAN2(**kwargs)                      # no memory yet
>>> fill_meta_module(module, state_dict, where="G_ema.pt", error=InvalidFileError,
...                       what="a StyleGAN2 generator built from its configuration")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._checks import describe
from ..exceptions import FileLimitError, InvalidFileError, NonFiniteError

__all__ = ["few", "count_indexed", "check_weights", "fill_meta_module", "converted_weights", "MAX_AMPLIFICATION"]

#: Materialised weights may take at most this many times the file's size (plus 64 MB):
#: float16 files become float32, and tensors may share storage (tied weights) a few times.
MAX_AMPLIFICATION = 4


def few(items: list[str], n: int = 6) -> str:
    """``a, b, c, … (N in all)``, or ``none``."""
    if not items:
        return "none"
    return ", ".join(items[:n]) + (f", … ({len(items)} in all)" if len(items) > n else "")


def count_indexed(state_dict: Mapping[str, Any], prefix: str) -> int:
    """How many consecutive ``{prefix}0.``, ``{prefix}1.`` … keys the state dict has.

    One pass over the keys (a checkpoint with thousands of indices costs no more than
    reading them); callers compare the count with their limits (the genforce loaders with
    :data:`~panda_viz.generators.genforce.loader.LIMITS`).
    """
    found = set()
    start = len(prefix)
    for key in state_dict:
        if isinstance(key, str) and key.startswith(prefix):
            head, dot, _ = key[start:].partition(".")
            if dot and head.isascii() and head.isdigit() and len(head) <= 9:
                found.add(int(head))
    n = 0
    while n in found:
        n += 1
    return n


def check_weights(
    expected: Mapping[str, torch.Tensor],
    found: Mapping[Any, Any],
    *,
    where: str,
    what: str,
    error: type[InvalidFileError] = InvalidFileError,
    path: str | Path | None = None,
) -> None:
    """Refuse ``found`` unless it has exactly ``expected``'s names, shapes and kinds of dtype.

    Parameters
    ----------
    expected : mapping
        Name -> tensor (typically meta tensors of ``module.state_dict()``).
    found : mapping
        Name -> tensor read from the file.
    where, what : str
        The file, and what the configuration built (for the message).

    Raises
    ------
    InvalidFileError (or ``error``)
        Naming the missing, unexpected, non-tensor, mis-shaped or mis-typed entries.
    """
    keys = [key for key in found if type(key) is not str]
    if keys:
        raise error(f"{where}: weight names must be str; found {', '.join(describe(k) for k in keys[:4])}", path)
    not_tensors = [f"{k} ({describe(v)})" for k, v in found.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise error(f"{where}: entries that should be tensors hold other values: {few(not_tensors)}", path)
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        raise error(
            f"{where}: the weights do not match {what}: missing {few(missing)}; unexpected {few(unexpected)}", path
        )
    wrong = [
        f"{k} {tuple(found[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items() if found[k].shape != v.shape
    ]
    if wrong:
        raise error(f"{where}: weights of the wrong shape for {what}: {few(wrong)}", path)
    kinds = [
        f"{k} ({found[k].dtype}, expected {v.dtype})"
        for k, v in expected.items()
        if found[k].is_floating_point() != v.is_floating_point() or found[k].is_complex() or (v.dtype == torch.bool) != (found[k].dtype == torch.bool)
    ]
    if kinds:
        raise error(f"{where}: weights of the wrong type for {what}: {few(kinds)}", path)


def converted_weights(
    expected: Mapping[str, torch.Tensor],
    found: Mapping[str, torch.Tensor],
    *,
    where: str,
    path: str | Path | None = None,
) -> dict[str, torch.Tensor]:
    """``found`` in ``expected``'s dtypes (contiguous), after the size and finiteness checks.

    Raises
    ------
    FileLimitError
        The weights would take more than :data:`MAX_AMPLIFICATION` times the file's size
        (many names sharing one storage).
    NonFiniteError
        Weights holding NaN or infinite values (named).
    """
    total = sum(v.numel() * v.element_size() for v in expected.values())
    if path is not None:
        budget = MAX_AMPLIFICATION * Path(path).stat().st_size + 64 * 2**20
        if total > budget:
            raise FileLimitError(
                f"{where}: its weights would take {total / 2**20:,.0f} MB, more than {MAX_AMPLIFICATION}× the file "
                f"({Path(path).stat().st_size / 2**20:,.1f} MB): tensors share storage far more than weights do", path,
            )
    bad = [k for k, v in found.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise NonFiniteError(f"{where}: weights with NaN or infinite values: {few(bad)}; refusing to load them")
    return {
        k: found[k].to(dtype=v.dtype, memory_format=torch.contiguous_format) for k, v in expected.items()
    }


def fill_meta_module(
    module: nn.Module,
    found: Mapping[Any, Any],
    *,
    where: str,
    what: str,
    error: type[InvalidFileError] = InvalidFileError,
    path: str | Path | None = None,
) -> nn.Module:
    """Check ``found`` against ``module`` (built on ``meta``), then give the module its tensors.

    Every parameter and persistent buffer must be in ``found`` with the same shape; the
    tensors are converted to the module's dtypes and assigned (no second copy). Returns the
    module, in eval mode without gradients.

    Raises
    ------
    InvalidFileError (or ``error``), FileLimitError, NonFiniteError
        As :func:`check_weights` and :func:`converted_weights`; also when a tensor the file
        cannot provide (a non-persistent buffer) would stay on ``meta``.
    """
    expected = module.state_dict()
    check_weights(expected, found, where=where, what=what, error=error, path=path)
    module.load_state_dict(converted_weights(expected, found, where=where, path=path), strict=True, assign=True)
    left = [name for name, tensor in [*module.named_parameters(), *module.named_buffers()] if tensor.is_meta]
    if left:
        raise error(f"{where}: {what} has tensors no file provides: {few(left)}", path)
    return module.eval().requires_grad_(False)
