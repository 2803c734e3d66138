"""The ``panda-viz`` command: ``panda-viz demo``, and one sub-command per job.

Each sub-command lives in the module that does its work and defines
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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
