"""``panda-viz lab`` in a real browser: the URL it prints opens the Explorer notebook, not the Launcher.

Runs the real command (``panda-viz lab --no-browser`` on 127.0.0.1 and a free port) with
``$PANDA_VIZ_WORK`` a temporary folder, so it writes its working copy of the Explorer there;
opens the URL it prints in Debian's Chromium and finds ``explore.ipynb`` open as the current
document; then stops it with SIGTERM, as a process manager would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ports import free_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
START_S = 180  # JupyterLab's start on a loaded 2-core machine


def _wait_for_idle_kernels(url: str) -> None:
    """Wait until every kernel the page started has finished starting (execution_state "idle"),
    as a user's kernel has by the time they stop the server; a kernel still starting on a loaded
    machine can hold JupyterLab's shutdown past panda-viz lab's stop timeout."""
    import json
    import urllib.request

    base, token = url.split("/lab/")[0], url.split("token=")[1]
    deadline, kernels = time.monotonic() + START_S, []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as answer:
            kernels = json.load(answer)
        if kernels and all(k.get("execution_state") == "idle" for k in kernels):
            return
        time.sleep(0.5)
    raise AssertionError(f"the notebook's kernel was not idle within {START_S} s: {kernels}")


def _wait_for_url(log: Path, process: subprocess.Popen, port: int) -> str:
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/\S+")
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        assert process.poll() is None, f"panda-viz lab exited early:\n{text}"
        found = pattern.search(text)
        if found:
            return found.group(0)
        time.sleep(0.5)
    raise AssertionError(f"panda-viz lab printed no URL within {START_S} s:\n{log.read_text(errors='replace')}")


def test_panda_viz_lab_lands_on_the_explorer_notebook(tmp_path, open_page):
    work, home = tmp_path / "work", tmp_path / "home"
    env = {**os.environ, "PANDA_VIZ_WORK": str(work), "PYTHONPATH": str(REPO),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "IPYTHONDIR": str(home / "ipython"), "JUPYTER_PLATFORM_DIRS": "1"}
    port = free_port()
    log_path = tmp_path / "lab.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "panda_viz.commands.cli", "lab", "--no-browser",
                                    "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = _wait_for_url(log_path, process, port)
        said = log_path.read_text(errors="replace")
        copy = work.resolve() / "explore.ipynb"
        assert f"opening {copy}, your working copy of the Explorer" in said and copy.is_file()
        assert url.split("?")[0] == f"http://127.0.0.1:{port}/lab/tree/explore.ipynb", url

        page = open_page(1280, 900, START_S * 1000)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook", state="visible")
        # the main area's current tab is the notebook (the app object is not exposed: the real command)
        current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
        current.first.wait_for(state="visible")
        assert current.count() == 1 and current.first.inner_text().strip() == "explore.ipynb"
        assert page.locator(".jp-Launcher:visible").count() == 0  # not the Launcher
        # its first cell rendered: the Explorer's own notebook, not some other file of that name
        page.locator(".jp-Notebook .jp-RenderedMarkdown h1", has_text="Explore parts and appearances").first.wait_for()
        _wait_for_idle_kernels(url)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # panda-viz lab passes it on and waits for JupyterLab
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode == 0, log_path.read_text(errors="replace")
