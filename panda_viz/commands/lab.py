"""``panda-viz lab``: start JupyterLab on the Explorer notebook (``explore.ipynb``).

Which notebook it opens without an argument: ``explore.ipynb`` in the work folder
(:func:`panda_viz.runtime.work_folder.work_path`: ``$PANDA_VIZ_WORK``, else the checkout's
git-ignored ``workspace/``, else ``~/panda-viz``), a working copy written there on first use
from the copy that ships inside the package. A later run opens that same file, with the
user's changes, and never overwrites it (delete it for a fresh copy). The checkout's
``notebooks/explore.ipynb`` is never opened by default, so JupyterLab's autosave cannot
rewrite a tracked file.

JupyterLab opens the notebook itself, not the Launcher: the URL it prints and the page the
browser gets are ``/lab/tree/<notebook>``. It runs in this Python environment
(``python -m jupyterlab``), so its default kernel has panda_viz and the widget extensions.
It listens on 127.0.0.1 unless told otherwise (as root, e.g. in a container, it passes
``--allow-root``). Stop it with Ctrl-C (JupyterLab asks, then stops) or with SIGTERM /
SIGHUP to ``panda-viz lab``, which passes them on to JupyterLab as SIGTERM and waits for it
to shut down its kernels and exit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import InvalidFileError
from ..fileio.atomic import atomic_path
from ..runtime.work_folder import work_path

__all__ = [
    "add_arguments",
    "run",
    "default_notebook",
    "packaged_notebook",
    "write_explorer_notebook",
    "lab_command",
    "serve",
    "STOP_TIMEOUT_S",
]

NOTEBOOK_NAME = "explore.ipynb"
#: seconds JupyterLab gets to stop (its kernels included) after a forwarded signal; then it is killed
STOP_TIMEOUT_S = 30.0


def packaged_notebook() -> Path:
    """The Explorer notebook shipped inside the package (``panda_viz/data/explore.ipynb``).

    A copy of the checkout's ``notebooks/explore.ipynb`` (the tests keep their cells
    identical), there so that an installed wheel, which has no ``notebooks/``, still has it.
    """
    return Path(__file__).resolve().parents[1] / "data" / NOTEBOOK_NAME


def default_notebook() -> Path:
    """The notebook ``panda-viz lab`` opens when given none: the work folder's working copy.

    Returns
    -------
    Path
        ``work_path("explore.ipynb")`` (its folder is created; the file may not exist yet,
        see :func:`write_explorer_notebook`). Never the checkout's tracked
        ``notebooks/explore.ipynb``.
    """
    return work_path(NOTEBOOK_NAME)


def write_explorer_notebook(path: str | os.PathLike) -> bool:
    """Write the packaged Explorer notebook to ``path`` unless a file is there already.

    Returns
    -------
    bool
        True when it wrote ``path``; False when ``path`` existed (it is left as it is).

    Raises
    ------
    InvalidFileError
        When the package lacks its notebook (a broken install); ``path`` is the missing file.
    OSError
        When ``path`` cannot be written.
    """
    path = Path(path)
    source = packaged_notebook()
    if not source.is_file():
        raise InvalidFileError(f"the Explorer notebook is missing from the installed package: expected "
                               f"{str(source)!r}; reinstall panda_viz", source)
    if path.exists():
        return False
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", nargs="?", type=Path, default=None,
                        help="notebook to open (default: the Explorer's working copy, explore.ipynb in the work "
                             "folder, written there from the package on first use and never overwritten)")
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888; the next free one if taken)")
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    parser.add_argument("--dry-run", action="store_true", help="print the JupyterLab command instead of running it")


def lab_command(notebook: Path, *, port: int = 8888, ip: str = "127.0.0.1", no_browser: bool = False) -> list[str]:
    """The command line that serves ``notebook``'s folder and opens ``notebook``.

    JupyterLab's own default page is the Launcher (``/lab``); ``LabApp.default_url`` makes
    the URL it prints, and the page ``/`` redirects to, the notebook (``/lab/tree/<name>``).
    """
    notebook = Path(notebook).resolve()
    command = [
        sys.executable, "-m", "jupyterlab", str(notebook),
        f"--ServerApp.root_dir={notebook.parent}",
        f"--LabApp.default_url=/lab/tree/{urllib.parse.quote(notebook.name)}",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
    ]
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # containers often run as root; JupyterLab refuses that without being told
        command.append("--allow-root")
    return command


class _Stop(Exception):
    """Raised by the signal handler to leave the wait for the child."""


def serve(command: Sequence[str], *, stop_timeout: float = STOP_TIMEOUT_S, **popen_kwargs: Any) -> int:
    """Run ``command`` (JupyterLab) in the foreground and never leave it behind.

    SIGTERM and SIGHUP sent to this process are passed on to the child as SIGTERM
    (JupyterLab's signal to stop cleanly, its kernels included); the child then gets
    ``stop_timeout`` seconds before it is killed. SIGINT is left to the child: a Ctrl-C in
    the terminal reaches it directly (JupyterLab asks for a confirmation, then stops), and
    this process waits for it. The child is always waited for (reaped) before returning.
    Signals are handled only when called from the main thread (where Python delivers them).

    Parameters
    ----------
    command : sequence of str
    stop_timeout : float
        Seconds between a forwarded signal and killing the child.
    **popen_kwargs
        Passed to :class:`subprocess.Popen` (``cwd``, ``env``, ``stdout`` …).

    Returns
    -------
    int
        The child's exit status; 128 + N when a signal N ended it.
    """
    state: dict[str, Any] = {"child": None, "waiting": False}
    pending: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        pending.append(signum)
        child = state["child"]
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
        if state["waiting"]:  # only ever interrupt the wait below, never other code
            raise _Stop

    def wait_quietly(signum: int, frame: Any) -> None:
        pass  # the terminal's Ctrl-C reached JupyterLab too; keep waiting for it

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {getattr(signal, name): forward for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)}
        handlers[signal.SIGINT] = wait_quietly
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    child: subprocess.Popen | None = None
    try:
        child = subprocess.Popen(list(command), **popen_kwargs)
        state["child"] = child
        if pending:  # asked to stop while the child was starting
            child.send_signal(signal.SIGTERM)
        deadline: float | None = None
        while True:
            if pending and deadline is None:
                deadline = time.monotonic() + stop_timeout
            try:
                state["waiting"] = True
                try:
                    if deadline is None:
                        code = child.wait()
                    else:
                        code = child.wait(timeout=max(0.0, deadline - time.monotonic()))
                finally:
                    state["waiting"] = False
                break
            except _Stop:
                continue
            except subprocess.TimeoutExpired:
                print(f"panda-viz lab: JupyterLab did not stop within {stop_timeout:g} s of "
                      f"{signal.Signals(pending[0]).name}; killing it", file=sys.stderr)
                child.kill()
                code = child.wait()
                break
    finally:
        state["waiting"] = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child is not None and child.poll() is None:  # an unexpected error here: never orphan it
            child.kill()
            child.wait()
    return 128 - code if code < 0 else code


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        print(f"panda-viz lab: --port must be in 1..65535; got {args.port}", file=sys.stderr)
        return 2
    if args.notebook is not None:
        notebook = args.notebook
        if not notebook.is_file():
            print(f"panda-viz lab: notebook {str(notebook)!r} not found; pass the path of a notebook, "
                  "or nothing for the Explorer", file=sys.stderr)
            return 2
    else:
        try:
            notebook = default_notebook()
        except OSError as err:
            print(f"panda-viz lab: cannot create the work folder for the Explorer notebook: {err}; "
                  "set PANDA_VIZ_WORK to a folder you can write to, or pass a notebook", file=sys.stderr)
            return 2
        if not notebook.is_file():
            if args.dry_run:
                print(f"# would write the Explorer notebook to {notebook} first", file=sys.stderr)
            else:
                try:
                    write_explorer_notebook(notebook)
                except (OSError, InvalidFileError) as err:
                    print(f"panda-viz lab: cannot write the Explorer notebook to {str(notebook)!r}: {err}; "
                          "set PANDA_VIZ_WORK to a folder you can write to, or pass a notebook", file=sys.stderr)
                    return 2
                print(f"wrote {notebook}: a working copy of the Explorer notebook shipped with panda_viz", flush=True)
        if not args.dry_run:
            print(f"panda-viz lab: opening {notebook}, your working copy of the Explorer (your changes stay "
                  "there; delete it for a fresh copy on the next run)", flush=True)
    command = lab_command(notebook, port=args.port, ip=args.ip, no_browser=args.no_browser)
    if args.dry_run:
        print(subprocess.list2cmdline(command))
        return 0
    return serve(command)
