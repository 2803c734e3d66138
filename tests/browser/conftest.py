"""Shared by the real-browser tests: a JupyterLab server on 127.0.0.1 and Debian's Chromium.

``Lab`` runs JupyterLab in a temporary root with its own settings; ``chromium_path`` skips a
test without ``/usr/bin/chromium`` (fails under ``CI``); ``open_page`` opens a page of that
Chromium; ``lab_for`` starts a Lab holding an output-free copy of a notebook; ``run_notebook``
opens one and runs its cells; ``notebook_of`` writes a notebook of given cells; ``drag``,
``press_and_move`` and ``upload_photo`` are what a user's mouse and file dialog do, and
``current_src`` what the page shows. Playwright only drives the distribution's Chromium, never a download.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
#: The checkout under test: the Lab's kernels import its panda_viz, not whichever one the
#: virtual environment's editable install points at (another worktree's).
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

SERVER_START_S = 90     # JupyterLab up and answering


def strip_outputs(source: Path, target: Path) -> None:
    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook.setdefault("metadata", {})["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    target.write_text(json.dumps(notebook))


class Lab:
    """A JupyterLab server in a temporary root, with a known token; stop() always cleans up."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.port, self.token = root, free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            # state of this run only: no user settings, workspaces or config leak in or out
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        }
        # no "get notified about Jupyter news?" toast over the app, no update checks
        notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        self.log_path = home / "jupyterlab.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={self.token}",
             "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly",
             *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI containers run as root
            cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def api(self, path: str, method: str = "GET", timeout: float = 5) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("/api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer within {SERVER_START_S}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> None:
        """Shut the server and its kernels down: politely, then SIGTERM, then SIGKILL."""
        if self.process.poll() is None:
            try:
                self.api("/api/shutdown", method="POST")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    try:
                        os.killpg(self.process.pid, sig)  # its own session: the server and its kernels
                    except ProcessLookupError:
                        break
                try:
                    self.process.wait(timeout=15)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._log.close()


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} not found: the browser tests drive Debian's Chromium; install it with "
                   "`sudo apt-get install -y chromium` (every other test runs without it)")
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the browser test")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def lab_for(tmp_path: Path) -> Iterator[Callable[[Path], "Lab"]]:
    """``lab_for(notebook)``: a running Lab whose root holds an output-free copy of ``notebook``."""
    servers = []

    def start(notebook: Path) -> Lab:
        root, home = tmp_path / "root", tmp_path / "home"
        root.mkdir()
        home.mkdir()
        strip_outputs(notebook, root / notebook.name)
        server = Lab(root, home)
        servers.append(server)
        server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def _current_src(page, selector: str) -> str:
    return page.eval_on_selector(selector, "img => img.src")


def _press_and_move(page, handle_selector: str, dx: float, *, steps: int = 10) -> None:
    """Press the first visible slider handle and move it ``dx`` pixels, the button still held."""
    handle = page.locator(f"{handle_selector} >> visible=true").first
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    assert box is not None, f"the slider handle {handle_selector} is not laid out"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=steps)


def _drag(page, handle_selector: str, dx: float) -> None:
    """Drag the first visible slider handle ``dx`` pixels to the right and release it."""
    _press_and_move(page, handle_selector, dx, steps=8)
    page.mouse.up()


def _upload_photo(page, photo: Path) -> None:
    """Give ``photo`` to the photo tab's upload button, as a user's file dialog would."""
    upload = page.locator(".panda-photo-upload")
    upload.wait_for(state="visible")
    inputs = page.locator(".panda-photo-upload input[type=file]")
    if inputs.count():
        inputs.first.set_input_files(str(photo))
    else:  # the widget keeps its <input> outside the DOM: answer the file chooser it opens
        with page.expect_file_chooser() as chooser:
            upload.click()
        chooser.value.set_files(str(photo))


def write_notebook(path: Path, sources: list[str]) -> Path:
    """A notebook at ``path`` of one code cell per source, no outputs; returns ``path``."""
    cells = [{"cell_type": "code", "id": f"cell-{i}", "source": source, "metadata": {}, "outputs": [],
              "execution_count": None} for i, source in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}))
    return path


@pytest.fixture
def current_src() -> Callable:
    """``current_src(page, selector)``: the src (a data URL) of the image ``selector`` shows."""
    return _current_src


@pytest.fixture
def drag() -> Callable:
    """``drag(page, handle_selector, dx)``: drag a slider handle ``dx`` pixels and release it."""
    return _drag


@pytest.fixture
def press_and_move() -> Callable:
    """``press_and_move(page, handle_selector, dx)``: as :func:`drag`, the mouse button still held."""
    return _press_and_move


@pytest.fixture
def upload_photo() -> Callable:
    """``upload_photo(page, path)``: upload a file with the photo tab's button."""
    return _upload_photo


@pytest.fixture
def notebook_of() -> Callable:
    """``notebook_of(path, sources)``: write a notebook of those code cells (no outputs)."""
    return write_notebook


@pytest.fixture
def chromium_args() -> list[str]:
    """Command-line flags for a headless, offline, quiet Chromium."""
    return list(CHROMIUM_ARGS)


# the open notebook's kernel, once JupyterLab has started it
_KERNEL_IDLE = ("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'")


def _run_notebook(page, lab: Lab, name: str, *, kernel_start_s: float) -> None:
    """Open notebook ``name`` of ``lab`` in ``page``, wait for its kernel, run all its cells."""
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook", state="visible")
    page.wait_for_function(_KERNEL_IDLE, timeout=kernel_start_s * 1000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


@pytest.fixture
def run_notebook() -> Callable:
    """``run_notebook(page, lab, name, kernel_start_s=…)``: open a notebook, wait for its kernel, run all cells."""
    return _run_notebook


@pytest.fixture
def open_page(chromium_path: Path, chromium_args: list[str]) -> Iterator[Callable]:
    """``open_page(width, height, timeout_ms)``: a page of headless Chromium with that viewport and
    default timeout; its browser closes after the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browsers = []

        def open_(width: int, height: int, timeout_ms: float):
            browser = playwright.chromium.launch(executable_path=str(chromium_path), args=chromium_args, timeout=timeout_ms)
            browsers.append(browser)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            return page

        try:
            yield open_
        finally:
            for browser in browsers:
                browser.close()
