"""``panda-viz lab``: start JupyterLab on ``notebooks/explore.ipynb`` (the Explorer app).

JupyterLab runs in this Python environment (``python -m jupyterlab``), so its default
kernel has panda_viz and the widget extensions. It listens on 127.0.0.1 unless told
otherwise (as root, e.g. in a container, it passes ``--allow-root``); stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "default_notebook", "lab_command"]


def default_notebook() -> Path:
    """``notebooks/explore.ipynb`` of the source checkout panda_viz is installed from."""
    return Path(__file__).resolve().parent.parent / "notebooks" / "explore.ipynb"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", nargs="?", type=Path, default=None,
                        help="notebook to open (default: notebooks/explore.ipynb of this checkout)")
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888; the next free one if taken)")
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    parser.add_argument("--dry-run", action="store_true", help="print the JupyterLab command instead of running it")


def lab_command(notebook: Path, *, port: int = 8888, ip: str = "127.0.0.1", no_browser: bool = False) -> list[str]:
    """The command line that serves ``notebook``'s folder and opens ``notebook``."""
    notebook = notebook.resolve()
    command = [
        sys.executable, "-m", "jupyterlab", str(notebook),
        f"--ServerApp.root_dir={notebook.parent}",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
    ]
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # containers often run as root; JupyterLab refuses that without being told
        command.append("--allow-root")
    return command


def run(args: argparse.Namespace) -> int:
    notebook = args.notebook if args.notebook is not None else default_notebook()
    if not notebook.is_file():
        print(f"panda-viz lab: notebook {str(notebook)!r} not found; pass the path of a notebook "
              "(the Explorer notebook is notebooks/explore.ipynb in the source checkout)", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"panda-viz lab: --port must be in 1..65535; got {args.port}", file=sys.stderr)
        return 2
    command = lab_command(notebook, port=args.port, ip=args.ip, no_browser=args.no_browser)
    if args.dry_run:
        print(subprocess.list2cmdline(command))
        return 0
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # JupyterLab got the Ctrl-C too and shuts down by itself
        return 130
