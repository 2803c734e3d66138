"""The ``panda-viz`` command: ``panda-viz demo``, and one sub-command per job.

Each sub-command lives in the module that does its work and defines
``add_arguments(parser)`` and ``run(args) -> int``; this file wires them, and holds the
argument types they share, which refuse a bad value when the command line is parsed
(an argparse error naming the option, before any work).
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
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

# name -> (module, one-line help); the module defines add_arguments(parser) and run(args) -> int
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("panda_viz.paper.demo", "fit PandA on the embedded face GAN and write labelled figures to figures/demo"),
    "lab": ("panda_viz.lab", "start JupyterLab on notebooks/explore.ipynb, the interactive Explorer"),
    "figures": ("panda_viz.paper.figures", "re-run the paper's notebooks in place and rewrite figures/ and its index"),
    "table2": ("panda_viz.paper.evaluation", "the PandA paper's Table 2 (ROIR, SWD) for PandA, SeFa, ReSeFa and GANSpace on the embedded face GAN"),
    "fit": ("panda_viz.batch_fit", "fit PandA on a generator's layer and save the factors and a report (runs under torchrun too)"),
    "render": ("panda_viz.batch_render", "write the images of named edits for a range of seeds to a folder (resumable; runs under torchrun too)"),
}


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="panda-viz", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"panda-viz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
