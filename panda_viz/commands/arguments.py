"""Argument types the ``panda-viz`` sub-commands share.

Each refuses a bad value when the command line is parsed: an argparse error naming the
option, before any work.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Seeds go to torch.Generator.manual_seed, which takes at most 64 bits.
MAX_SEED = 2**63 - 1


def _convert(text: str, kind: Callable[[str], Any], expected: str) -> Any:
    """``kind(text)``, or an argparse error "expected <expected>; got '<text>'" where it fails."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None


def positive_int(limit: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [1, limit]."""

    def parse(text: str) -> int:
        value = _convert(text, int, "a positive integer")
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
        if limit is not None and value > limit:
            raise argparse.ArgumentTypeError(f"expected a positive integer of at most {limit:,}; got {value:,}")
        return value

    return parse


def seed(text: str) -> int:
    """An argparse type: a seed, a whole number in [0, 2**63 - 1] (``1e23`` and ``-1`` are refused)."""
    value = _convert(text, int, f"a whole number in [0, {MAX_SEED}]")
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, {MAX_SEED}]; got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = _convert(text, float, "a positive number")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}")
    return value


def output_folder(text: str) -> Path:
    """An argparse type: a folder that exists or can be made and written (not an existing file)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder; got an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is an existing file, not a folder; name a folder for the output")
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"cannot make folder {text!r}: {str(ancestor)!r} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {str(ancestor)!r} is not writable")
    return path


def existing_folder(text: str) -> Path:
    """An argparse type: a folder that exists."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing folder")
    return path


def existing_file(text: str) -> Path:
    """An argparse type: a file that exists."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing file")
    return path
