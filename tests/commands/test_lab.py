"""``panda-viz lab``: its command line, the Explorer notebook it opens with or without a checkout,
its bad-input messages, and signals (a stopped ``panda-viz lab`` never leaves JupyterLab behind)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib
from PIL import Image
from ports import free_port

from panda_viz.commands import cli, lab
from panda_viz.exceptions import InvalidFileError


def test_lab_is_a_subcommand_with_its_options(tmp_path, capsys):
    notebook = tmp_path / "explore.ipynb"
    notebook.write_text("{}")
    code = cli.main(["lab", str(notebook), "--port", "9123", "--no-browser", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.split()[:3] == [sys.executable, "-m", "jupyterlab"]
    assert str(notebook.resolve()) in out
    for option in ("--ServerApp.ip=127.0.0.1", "--ServerApp.port=9123", "--no-browser",
                   f"--ServerApp.root_dir={tmp_path.resolve()}"):
        assert option in out


def test_lab_defaults_to_the_explorer_copy_in_the_work_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("PANDA_VIZ_WORK", str(tmp_path))
    assert lab.default_notebook() == tmp_path.resolve() / "explore.ipynb"  # never notebooks/explore.ipynb
    command = lab.lab_command(lab.default_notebook())
    assert "--no-browser" not in command and "--ServerApp.ip=127.0.0.1" in command
    # the printed URL and the browser go to the notebook, not the Launcher
    assert "--LabApp.default_url=/lab/tree/explore.ipynb" in command
    assert "--LabApp.default_url=/lab/tree/my%20notes.ipynb" in lab.lab_command(tmp_path / "my notes.ipynb")
    assert ("--allow-root" in command) == (os.geteuid() == 0)  # JupyterLab refuses root without it


def test_lab_reports_a_missing_notebook_and_a_bad_port(tmp_path, capsys):
    assert cli.main(["lab", str(tmp_path / "nope.ipynb"), "--dry-run"]) == 2
    assert "nope.ipynb' not found" in capsys.readouterr().err
    notebook = tmp_path / "a.ipynb"
    notebook.write_text("{}")
    assert cli.main(["lab", str(notebook), "--port", "0", "--dry-run"]) == 2
    assert "--port must be in 1..65535; got 0" in capsys.readouterr().err


# --------------------------------------------------------------------------- the notebook, with and without a checkout
ROOT = Path(__file__).resolve().parents[2]
CHECKOUT_NOTEBOOK = ROOT / "notebooks" / "explore.ipynb"


def notebook_content(path: Path) -> list[tuple]:
    """What a user opens: each cell's type, source, tags and attachments (not outputs or timings)."""
    notebook = json.loads(path.read_text())
    return [(c["cell_type"], "".join(c["source"]), c.get("metadata", {}).get("tags", []), c.get("attachments"))
            for c in notebook["cells"]] + [notebook["metadata"].get("kernelspec")]


def test_the_package_ships_the_checkouts_explorer_notebook():
    assert lab.packaged_notebook() == ROOT / "panda_viz" / "data" / "explore.ipynb"
    # re-executing notebooks/explore.ipynb (panda-viz figures, nbval) changes only outputs and timings
    assert notebook_content(lab.packaged_notebook()) == notebook_content(CHECKOUT_NOTEBOOK), (
        "panda_viz/data/explore.ipynb (what a wheel ships) differs from notebooks/explore.ipynb: "
        "cp notebooks/explore.ipynb panda_viz/data/explore.ipynb")
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p for pattern in package_data["panda_viz"] for p in (ROOT / "panda_viz").glob(pattern)}
    assert lab.packaged_notebook() in shipped  # package data: in the wheel


def test_the_explorer_intro_describes_every_tab_and_any_picture_travels_inside():
    """The intro names every tab in words (it shows no screenshot that could pass for the live
    app); a picture, if one is added, is a cell attachment with a caption, so it shows whichever
    folder JupyterLab serves and reads as a picture."""
    from panda_viz.widgets.explorer import TABS

    notebook = json.loads(CHECKOUT_NOTEBOOK.read_text())
    intro = "".join(notebook["cells"][0]["source"])
    assert [tab for tab in TABS if f"**{tab}**" not in intro] == []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for caption, target in re.findall(r"!\[([^\]]*)\]\(([^)\s]+)\)", "".join(cell["source"])):
            assert target.startswith("attachment:"), f"{target!r} depends on the folder JupyterLab serves"
            assert "screenshot" in caption.lower() or "picture" in caption.lower(), f"uncaptioned picture {target!r}"
            data = cell.get("attachments", {})[target.removeprefix("attachment:")]["image/png"]
            with Image.open(io.BytesIO(base64.b64decode(data))) as picture:
                assert picture.format == "PNG" and picture.width >= 400


@pytest.fixture
def no_checkout(monkeypatch, tmp_path):
    """The work folder (PANDA_VIZ_WORK) a fresh folder, and the current folder another one."""
    work = tmp_path / "work"
    monkeypatch.setenv("PANDA_VIZ_WORK", str(work))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return work.resolve()


def test_the_explorer_copy_is_written_to_the_work_folder_once(no_checkout, monkeypatch, capsys):
    served = []
    monkeypatch.setattr(lab, "serve", lambda command: served.append(command) or 0)
    assert lab.default_notebook() == no_checkout / "explore.ipynb"
    # a dry run says what it would write, and writes nothing
    assert cli.main(["lab", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "would write the Explorer notebook" in captured.err and not (no_checkout / "explore.ipynb").exists()
    assert f"--ServerApp.root_dir={no_checkout.resolve()}" in captured.out

    assert cli.main(["lab", "--no-browser"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {no_checkout / 'explore.ipynb'}: a working copy of the Explorer notebook" in out
    assert f"opening {no_checkout / 'explore.ipynb'}, your working copy" in out and "delete it for a fresh copy" in out
    assert (no_checkout / "explore.ipynb").read_bytes() == lab.packaged_notebook().read_bytes()
    assert not list((no_checkout.parent / "cwd").iterdir())  # nothing in the current folder
    assert served[-1][3:5] == [str((no_checkout / "explore.ipynb").resolve()), f"--ServerApp.root_dir={no_checkout.resolve()}"]
    # the user's copy is theirs: a second run opens it unchanged
    (no_checkout / "explore.ipynb").write_text('{"cells": []}')
    assert cli.main(["lab", "--no-browser"]) == 0
    out = capsys.readouterr().out
    assert "wrote" not in out and "your working copy" in out
    assert (no_checkout / "explore.ipynb").read_text() == '{"cells": []}'
    assert lab.write_explorer_notebook(no_checkout / "explore.ipynb") is False


def test_a_package_missing_its_notebook_says_so(no_checkout, monkeypatch, capsys):
    monkeypatch.setattr(lab, "packaged_notebook", lambda: no_checkout / "gone" / "explore.ipynb")
    assert cli.main(["lab", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the Explorer notebook to" in err and "missing from the installed package" in err
    assert not (no_checkout / "explore.ipynb").exists()
    with pytest.raises(InvalidFileError, match=r"missing from the installed package: expected '.*gone/explore.ipynb'") as info:
        lab.write_explorer_notebook(no_checkout / "x.ipynb")
    assert info.value.path == no_checkout / "gone" / "explore.ipynb"


# --------------------------------------------------------------------------- signals: never leave JupyterLab behind
# A stand-in for JupyterLab: writes its pid, then waits; on SIGTERM it exits 0 ("exit"),
# or it ignores SIGTERM ("ignore").
CHILD = r"""
import os, signal, sys, time, pathlib
folder, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
def stop(signum, frame):
    (folder / "child.got").write_text(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop if mode == "exit" else signal.SIG_IGN)
(folder / "child.pid").write_text(str(os.getpid()))
time.sleep(120)
"""
# `panda-viz lab`'s process: serve() running the stand-in
PARENT = r"""
import sys
from panda_viz.commands.lab import serve
sys.exit(serve([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]], stop_timeout=float(sys.argv[4])))
"""


def _wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {seconds} s")
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(("sig", "mode", "stop_timeout", "code"), [
    (signal.SIGTERM, "exit", 30, 0),       # forwarded; the child stops cleanly and its status is returned
    (signal.SIGHUP, "exit", 30, 0),        # a closed terminal: forwarded as SIGTERM
    (signal.SIGTERM, "ignore", 1, 128 + 9),  # a child that will not stop is killed after stop_timeout
])
def test_serve_forwards_a_stop_and_reaps_the_child(tmp_path, sig, mode, stop_timeout, code):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(tmp_path), mode, str(stop_timeout)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    child_pid = None
    try:
        _wait_for(lambda: (tmp_path / "child.pid").is_file() and (tmp_path / "child.pid").read_text(), 30,
                  "the child did not start")
        child_pid = int((tmp_path / "child.pid").read_text())
        parent.send_signal(sig)
        assert parent.wait(timeout=stop_timeout + 20) == code
        assert _gone(child_pid), "the child outlived panda-viz lab"
        if mode == "exit":
            assert (tmp_path / "child.got").read_text() == "SIGTERM"
        else:
            assert "did not stop within 1 s of SIGTERM; killing it" in parent.stderr.read()
    finally:
        for pid in (parent.pid, child_pid):
            if pid is not None and not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        parent.wait()
        parent.stderr.close()


def test_serve_returns_the_childs_status():
    assert lab.serve([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert lab.serve([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]) == 128 + 9
    with pytest.raises(FileNotFoundError):
        lab.serve(["/nonexistent/jupyter"])


@pytest.mark.slow
def test_sigterm_to_panda_viz_lab_stops_jupyterlab(tmp_path):
    """The real thing: `panda-viz lab` on 127.0.0.1 and a free port; a SIGTERM to it stops JupyterLab."""
    psutil = pytest.importorskip("psutil")
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    notebook = work / "explore.ipynb"
    notebook.write_bytes(CHECKOUT_NOTEBOOK.read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "IPYTHONDIR": str(home / "ipython")}
    port = free_port()
    log = (tmp_path / "lab.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "panda_viz.commands.cli", "lab", str(notebook), "--no-browser",
                                "--ip", "127.0.0.1", "--port", str(port)],
                               cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    children: list = []
    try:
        def listening() -> bool:
            assert process.poll() is None, (tmp_path / "lab.log").read_text()
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        _wait_for(listening, 120, "JupyterLab did not listen")
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("jupyterlab" in " ".join(c.cmdline()) for c in children)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=lab.STOP_TIMEOUT_S + 15)
        _wait_for(lambda: all(_gone(c.pid) for c in children), 5, "JupyterLab outlived panda-viz lab")
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
        assert "did not stop within" not in (tmp_path / "lab.log").read_text()  # it stopped by itself
    finally:
        for pid in [process.pid, *(c.pid for c in children)]:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait()
        log.close()
