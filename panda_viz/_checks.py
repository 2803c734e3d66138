"""Argument checks for the whole package: one rule each, one message style.

Every public function checks its arguments here, once, at its boundary:

- an **integer** is an ``int`` or a NumPy integer, never a ``bool`` (:func:`is_int`);
- a **real number** is an ``int``, ``float`` or NumPy number, never a ``bool``, and finite
  unless a check says otherwise;
- a **random state** ``None`` means fresh, unrepeatable randomness from the operating
  system (never the global torch generator, which is left alone); an integer ``≥ 0`` seeds
  a new ``torch.Generator``; a ``torch.Generator`` is used as given (:func:`as_rng`);
- a **choice** among names answers a near miss with the closest names first
  (:func:`check_choice`, :func:`near_misses`).

Errors are :class:`~panda_viz.exceptions.InvalidTypeError` (the wrong kind of value) and
:class:`~panda_viz.exceptions.InvalidInputError` (the right kind, out of range), each naming
the argument, what was expected and what was got. ``name`` may say where, too
(``"PandA: n_parts"``).
"""

from __future__ import annotations

import difflib
import math
import numbers
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from .exceptions import InvalidInputError, InvalidTypeError, NonFiniteError

__all__ = [
    "is_int",
    "is_real",
    "check_int",
    "check_float",
    "check_bool",
    "check_choice",
    "near_misses",
    "did_you_mean",
    "unknown_name_message",
    "as_rng",
    "check_option_mapping",
    "describe",
    "check_has_data",
]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer: an ``int`` or NumPy integer, not a ``bool``."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (finite or not): int, float or NumPy number, not a ``bool``."""
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def describe(value: Any) -> str:
    """A short, safe description of any value for an error message (never a deep repr)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if value is None or isinstance(value, (bool, numbers.Number, np.generic)):
        text = repr(value.item() if isinstance(value, np.generic) else value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, (bytes, bytearray)):
        return f"{type(value).__name__} of {len(value)} bytes"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"a {type(value).__name__} of shape {tuple(value.shape)} ({value.dtype})"
    return f"a {type(value).__name__}"


def _interval(low: Any, high: Any, *, strict: bool = False) -> str:
    left = "(" if strict else "["
    return f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}]"


def _check_kind(name: str, value: Any, ok: bool, expected: str, allow_none: bool) -> None:
    if not ok:
        expected += " or None" if allow_none else ""
        raise InvalidTypeError(f"{name} must be {expected}; got {type(value).__name__} {describe(value)}")


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None,
              allow_none: bool = False) -> int | None:
    """``value`` as an ``int`` in [low, high]; ``None`` passes through when ``allow_none``.

    Raises
    ------
    InvalidTypeError
        ``value`` is not an integer (:func:`is_int`): ``1.0``, ``"3"`` and ``True`` are refused.
    InvalidInputError
        It is outside [low, high].
    """
    if value is None and allow_none:
        return None
    _check_kind(name, value, is_int(value), "an int", allow_none)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInputError(f"{name} must be an int in {_interval(low, high)}; got {value:,}")
    return value


def check_float(name: str, value: Any, *, low: float | None = 0.0, high: float | None = None, strict: bool = True,
                allow_none: bool = False, finite: bool = True) -> float | None:
    """``value`` as a ``float`` greater than ``low`` (at least ``low`` when not ``strict``), at most ``high``.

    The defaults ask for a finite positive number. ``low=None`` drops the lower bound.

    Raises
    ------
    InvalidTypeError
        ``value`` is not a real number (:func:`is_real`).
    NonFiniteError
        It is NaN or infinite and ``finite`` (the default).
    InvalidInputError
        It is outside the bounds.
    """
    if value is None and allow_none:
        return None
    _check_kind(name, value, is_real(value), "a real number", allow_none)
    value = float(value)
    if finite and not math.isfinite(value):
        raise NonFiniteError(f"{name} must be a finite number; got {value}")
    if (low is not None and (value < low or (strict and value == low))) or (high is not None and value > high):
        raise InvalidInputError(f"{name} must be a number in {_interval(low, high, strict=strict)}; got {value:g}")
    return value


def check_bool(name: str, value: Any, *, allow_none: bool = False) -> bool | None:
    """``value`` if it is ``True`` or ``False`` (or ``None`` when ``allow_none``); ``1`` is refused."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        expected = "True, False or None" if allow_none else "True or False"
        raise InvalidTypeError(f"{name} must be {expected}; got {type(value).__name__} {describe(value)}")
    return bool(value)


def near_misses(value: Any, options: Iterable[str], n: int = 3) -> list[str]:
    """The options closest to ``value`` (a mistyped name), best first; empty when none is close.

    Case and the separators ``.``, ``_``, ``-`` and spaces are ignored in the comparison, so
    ``"main5"`` finds ``"main.5"`` and ``"dcgan-digifce"`` finds ``"dcgan-digiface"``.
    """
    if not isinstance(value, str):
        return []
    options = [o for o in options if isinstance(o, str)]

    def key(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch not in "._- ")

    by_key: dict[str, list[str]] = {}
    for option in options:
        by_key.setdefault(key(option), []).append(option)
    if key(value) in by_key:  # the same name but for case or separators: nothing else is as close
        return by_key[key(value)][:n]
    matches = difflib.get_close_matches(key(value), list(by_key), n=n, cutoff=0.6)
    return [option for match in matches for option in by_key[match]][:n]


def did_you_mean(value: Any, options: Iterable[str]) -> str:
    """``"; did you mean 'main.5'?"`` for the near misses of ``value`` among ``options``; ``""`` when none is close."""
    close = near_misses(value, options)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_name_message(what: str, value: Any, options: Iterable[str], *, limit: int = 40) -> str:
    """``"unknown layer 'main5'; did you mean 'main.5'? layers: …"``: near misses first, then the list."""
    options = list(options)
    close = near_misses(value, options)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}? Expected" if close else "; expected"
    shown = ", ".join(repr(o) for o in options[:limit]) + (f", … ({len(options)} in all)" if len(options) > limit else "")
    return f"unknown {what} {describe(value)}{hint} one of: {shown}"


def check_choice(name: str, value: Any, options: Iterable[str]) -> str:
    """``value`` if it is one of ``options``; else an error with the near misses, then every option.

    The message starts ``Invalid <name>: got <value> instead of one of {…}`` (scikit-learn's
    wording) and ends with ``did you mean …?`` when an option is close.
    """
    options = tuple(options)
    if isinstance(value, str) and value in options:
        return value
    close = near_misses(value, options)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = "{" + ", ".join(repr(o) for o in options) + "}"
    error = InvalidInputError if isinstance(value, str) else InvalidTypeError
    raise error(f"Invalid {name}: got {describe(value)} instead of one of {listed}{hint}")


def check_has_data(name: str, tensor: Any) -> Any:
    """``tensor`` itself, unless it is a tensor on the ``meta`` device (a shape without values).

    torch fails on such a tensor only deep inside a computation (``NotImplementedError:
    Cannot copy out of meta tensor``); this names the argument instead.
    """
    if isinstance(tensor, torch.Tensor) and tensor.is_meta:
        raise InvalidInputError(
            f"{name} is a tensor on the 'meta' device (shape {tuple(tensor.shape)}, no values); "
            "pass a tensor with data, on the CPU or a GPU"
        )
    return tensor


def as_rng(random_state: Any, name: str = "random_state") -> torch.Generator:
    """A ``torch.Generator`` for ``random_state``: the package's one rule for randomness.

    ``None``: a new generator seeded from the operating system (fresh each call; the global
    torch generator is neither used nor reseeded). An integer in [0, 2**63 − 1]: a new
    generator seeded with it. A ``torch.Generator``: itself.
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        return torch.Generator().manual_seed(secrets.randbits(63))
    if not is_int(random_state):
        raise InvalidTypeError(
            f"{name} must be None, an int >= 0 or a torch.Generator; got {type(random_state).__name__} "
            f"{describe(random_state)}"
        )
    seed = int(random_state)
    if not 0 <= seed < 2**63:
        raise InvalidInputError(f"{name} must be None, an int in [0, 2**63 - 1] or a torch.Generator; got {seed}")
    return torch.Generator().manual_seed(seed)


def check_option_mapping(name: str, options: Any) -> dict[str, Any]:
    """``options`` (keyword options for another function) as a new dict; ``None`` is no options."""
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise InvalidTypeError(f"{name} must map option names to values; got {type(options).__name__}")
    return dict(options)
