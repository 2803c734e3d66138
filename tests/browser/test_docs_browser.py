"""The documentation site in a real browser: built as the README says, served on 127.0.0.1,
read in Debian's Chromium.

On a notebook page the maths is typeset by the site's own MathJax (no raw ``$…$`` left, no
MathJax error, every file it asks for found), and neither it nor the home page or the API
reference asks any host but 127.0.0.1 for anything: such requests are recorded and
refused. Skipped without /usr/bin/chromium unless CI is set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from docs_site import build_site, warning_lines
from ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEP_MS = 60_000
MATHJAX_START_MS = 30_000
NOTEBOOK = "notebooks/fig1_overview/"
MIN_FORMULAS = 8    # the $…$ in fig1_overview.ipynb's Markdown cells
# MathJax 2 keeps each formula's TeX in a <script type="math/tex"> beside what it drew
TYPESET = "() => new Promise(done => MathJax.Hub.Queue(done))"
FORMULAS = """() => Array.from(document.querySelectorAll('.jp-RenderedMarkdown script[type^="math/tex"]')).map(s => {
    const drawn = s.previousElementSibling;
    const box = drawn ? drawn.getBoundingClientRect() : {width: 0, height: 0};
    return {tex: s.textContent, drawn: drawn ? drawn.className : null, width: box.width, height: box.height};
})"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def served_site(chromium_path: Path, tmp_path: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (chromium_path first: no build when the test skips)."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    done = build_site(site)
    assert done.returncode == 0 and not warning_lines(done), (done.stdout + done.stderr)[-4000:]
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_notebook_maths_is_typeset_and_nothing_leaves_the_machine(served_site: str, open_page, tmp_path: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page = open_page(1280, 900, STEP_MS)
    outside: list[str] = []
    failed: list[str] = []

    def only_local(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_local)
    page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.status} {response.url}"))

    for path in ("", "api/"):
        page.goto(served_site + path, wait_until="load")
        page.wait_for_selector("article h1")

    page.goto(served_site + NOTEBOOK, wait_until="load")
    try:
        page.wait_for_function("() => window.MathJax && window.MathJax.isReady", timeout=MATHJAX_START_MS)
    except PlaywrightTimeoutError:
        scripts = page.eval_on_selector_all("script[src]", "scripts => scripts.map(s => s.getAttribute('src'))")
        pytest.fail(f"MathJax did not start on {NOTEBOOK}; the page's scripts: {scripts}")
    page.evaluate(TYPESET)
    formulas = page.evaluate(FORMULAS)
    assert len(formulas) >= MIN_FORMULAS, f"{len(formulas)} formulas typeset: {formulas}"
    undrawn = [f for f in formulas if not f["drawn"] or "MathJax" not in f["drawn"] or f["width"] <= 0 or f["height"] <= 0]
    assert not undrawn, f"formulas MathJax did not draw: {undrawn}"
    assert page.locator(".MathJax_Error, .jp-RenderedMarkdown .merror").count() == 0
    text = "\n".join(page.locator(".jp-RenderedMarkdown").all_inner_texts())
    assert "\\top" not in text and "$" not in text, "raw LaTeX left on the notebook page"
    page.locator(".jp-RenderedMarkdown .MathJax").first.screenshot(path=str(tmp_path / "formula.png"))

    assert not failed, f"requests the site could not answer: {failed}"
    assert not outside, f"requests to other hosts (refused): {outside}"
