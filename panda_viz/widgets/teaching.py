"""Helpers for lessons: check a student's answer and say so kindly, never with a traceback.

>>> check_answer((64, 65536), (64, 65536), name="Exercise 1")
✓ Exercise 1: correct.
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._checks import is_real

__all__ = ["check_answer", "answers_match"]


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, torch.Size):
        return tuple(value)
    return value


def answers_match(answer: Any, expected: Any, *, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Whether ``answer`` equals ``expected``: numbers within ``rtol``/``atol``, strings
    case- and space-insensitively, sequences and arrays element by element."""
    answer, expected = _plain(answer), _plain(expected)
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    if isinstance(expected, (bool, np.bool_)):
        return isinstance(answer, (bool, np.bool_)) and bool(answer) == bool(expected)
    if is_real(expected):
        if not is_real(answer):  # True is not the number 1 here
            return False
        return math.isclose(float(answer), float(expected), rel_tol=rtol, abs_tol=atol)
    if isinstance(expected, (tuple, list, np.ndarray)):
        try:
            a, e = np.asarray(answer, dtype=float), np.asarray(expected, dtype=float)
        except (TypeError, ValueError):
            return False
        return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol))
    return answer == expected


def check_answer(answer: Any, expected: Any, *, name: str = "answer", hint: str = "", rtol: float = 0.0,
                 atol: float = 0.0, quiet: bool = False) -> bool:
    """Print whether ``answer`` is right (with ``hint`` when it is not) and return it as a bool.

    ``None`` (the exercise cells' placeholder) is "not answered yet". Never raises on a
    wrong type: a student sees a sentence, not a traceback.

    Parameters
    ----------
    answer : any
        The student's value.
    expected : number, str, bool, sequence, array or tensor
    name : str
        Shown in the message, e.g. ``"Exercise 2"``.
    hint : str
        Shown when the answer is missing or wrong.
    rtol, atol : float
        Tolerances for numbers.
    quiet : bool
        Print nothing (the teacher's check that every solution passes).
    """
    if answer is None:
        ok, line = False, f"… {name}: not answered yet." + (f" Hint: {hint}" if hint else "")
    else:
        try:
            ok = answers_match(answer, expected, rtol=rtol, atol=atol)
        except Exception:  # noqa: BLE001 - a student's odd value is a wrong answer, not a crash
            ok = False
        line = f"✓ {name}: correct." if ok else f"✗ {name}: not yet (you gave {answer!r})." + (f" Hint: {hint}" if hint else "")
    if not quiet:
        print(line)
    return ok
