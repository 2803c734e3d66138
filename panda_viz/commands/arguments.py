"""Argument types the ``panda-viz`` sub-commands share.

Each refuses a bad value when the command line is parsed: an argparse error naming the
option, before any work.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Seeds go to torch.Generator.manual_seed, which takes at most 64 bits.
MAX_SEED = 2**63 - 1
#: Parts or appearances of a fit at most (a layer's H·W and C are checked once it is known).
MAX_RANK = 65_536
#: Samples of one ``panda-viz fit`` at most (the paper fits on 50,000 and less).
MAX_FIT_SAMPLES = 10_000_000
#: Images or samples per forward pass at most (and at most what fits in the generator's memory budget).
MAX_BATCH = 4096
#: Iterations of one solve at most.
MAX_ITER = 1_000_000
#: A generator's memory budget from the command line, in GiB, at most.
MAX_MEMORY_GIB = 4096.0
#: An edit strength from the command line at most, in magnitude (the paper's are below 20;
#: past this every image saturates).
MAX_ALPHA = 1e4


def _convert(text: str, kind: Callable[[str], Any], expected: str) -> Any:
    """``kind(text)``, or an argparse error "expected <expected>; got '<text>'" where it fails."""
    try:
        return kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected {expected}; got {_shown(text)}") from None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def whole_number(text: str, expected: str) -> int:
    """``text`` as a whole number written in digits (``1e3``, ``0x10``, ``1_000`` and 30+ digits refused)."""
    match = re.fullmatch(r"\s*([+-]?\d{1,30})\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected {expected}; got {_shown(text)}")
    return int(match[1])


def positive_int(limit: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [1, limit] (every count has an upper limit)."""
    def parse(text: str) -> int:
        value = whole_number(text, "a positive integer")
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
        if value > limit:
            raise argparse.ArgumentTypeError(f"expected a positive integer of at most {limit:,}; got {value:,}")
        return value

    return parse


def seed(text: str) -> int:
    """An argparse type: a seed, a whole number in [0, 2**63 - 1] (``1e23`` and ``-1`` are refused)."""
    expected = f"a whole number in [0, {MAX_SEED}]"
    value = whole_number(text, expected)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected {expected}; got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = _convert(text, float, "a positive number")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {_shown(text)}")
    return value


def bounded_float(low: float, high: float, *, low_open: bool = True) -> Callable[[str], float]:
    """An argparse type: a finite number in (low, high] (``[low, high]`` when not ``low_open``)."""
    expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        value = _convert(text, float, expected)
        if not math.isfinite(value) or value < low or (low_open and value == low) or value > high:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {_shown(text)}")
        return value

    return parse


def output_folder(text: str) -> Path:
    """An argparse type: a folder that exists or can be made and written (not an existing file)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder; got {_shown(text)} (name one: the current folder is '.')")
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


def output_file(text: str) -> Path:
    """An argparse type: a file to write: named (not ''), not an existing folder, not under a file."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a file name; got {_shown(text)}")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is an existing folder; name a file in it")
    blocker = next((p for p in path.absolute().parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {str(blocker)!r} is a file")
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


def edit_term(text: str) -> tuple:
    """An argparse type: one edit term ``PART:APPEARANCE:ALPHA`` -> ``(part, appearance, alpha)``.

    PART is a part index or a union of several joined by ``+`` (``3+5``); APPEARANCE an
    appearance index; ALPHA a finite number of magnitude at most :data:`MAX_ALPHA`. The indices
    are checked against the factors once they are read.
    """
    expected = "PART:APPEARANCE:ALPHA (e.g. 8:3:2.5, or 1+2:5:-1.5 for the union of parts 1 and 2)"
    fields = text.split(":")
    if len(fields) != 3:
        raise argparse.ArgumentTypeError(f"expected {expected}; got {_shown(text)}")
    parts = tuple(whole_number(k, f"{expected}: a part index") for k in fields[0].split("+"))
    appearance = whole_number(fields[1], f"{expected}: an appearance index")
    if any(k < 0 for k in parts) or appearance < 0:
        raise argparse.ArgumentTypeError(f"expected {expected} with indices >= 0; got {_shown(text)}")
    alpha = _convert(fields[2], float, f"{expected}: ALPHA a number")
    if not math.isfinite(alpha) or abs(alpha) > MAX_ALPHA:
        raise argparse.ArgumentTypeError(f"expected ALPHA a finite number of magnitude at most {MAX_ALPHA:g}; "
                                         f"got {_shown(fields[2])} in {_shown(text)}")
    return (parts[0] if len(parts) == 1 else parts, appearance, alpha)
