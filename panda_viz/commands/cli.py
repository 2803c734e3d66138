"""The ``panda-viz`` command: ``panda-viz demo``, and one sub-command per job.

Each sub-command is a module of :mod:`panda_viz.commands` that defines
``add_arguments(parser)`` and ``run(args) -> int``; this module wires them. The argument
types they share are in :mod:`panda_viz.commands.arguments`. A sub-command's ``--help``
shows its one-line summary and then its module docstring past the first paragraph, as
plain text (:func:`panda_viz.commands.help_text.plain_text`).
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from . import demo, figures, fit, lab, render, table2
from .help_text import plain_text

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "demo": (demo, "fit PandA on the embedded face GAN and write labelled figures to figures/demo"),
    "lab": (lab, "start JupyterLab on notebooks/explore.ipynb, the interactive Explorer"),
    "figures": (figures, "re-run the paper's notebooks in place and rewrite figures/ and its index"),
    "table2": (table2, "the PandA paper's Table 2 (ROIR, SWD) for PandA, SeFa, ReSeFa and GANSpace on the embedded face GAN"),
    "fit": (fit, "fit PandA on a generator's layer and save the factors and a report (runs under torchrun too)"),
    "render": (render, "write the images of edits (named edits, or terms with fit's factors) for a range of seeds to a "
                       "folder (resumable; runs under torchrun too)"),
}


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = argparse.ArgumentParser(prog="panda-viz", description=plain_text(__doc__.splitlines()[0]))
    parser.add_argument("--version", action="version", version=f"panda-viz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=description(module, help_text),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.set_defaults(_run=module.run)
        module.add_arguments(command)
    return parser


def description(module: ModuleType, summary: str) -> str:
    """A sub-command's ``--help`` text: ``summary``, then its module docstring past the first paragraph, as plain text."""
    _, _, body = (module.__doc__ or "").strip().partition("\n\n")
    return "\n\n".join(t for t in (summary, plain_text(body)) if t)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
