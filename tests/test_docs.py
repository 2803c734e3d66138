"""The documentation site builds as the README says (``mkdocs build --strict``) with no warning at
all; its API reference turns the docstrings' Sphinx roles into links; its notebook pages load
MathJax from the site itself; no page asks another host for a script, a style sheet, a font
or an image. One build serves every test here."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from docs_site import build_site, warning_lines

REPO = Path(__file__).resolve().parents[1]
ROLES = (":func:", ":class:", ":meth:", ":mod:", ":data:", ":attr:", ":exc:")
# a role rewritten by docs/hooks/sphinx_roles.py and resolved by autorefs: a link around <code>
ROLE_LINK = re.compile(r'<a class="autorefs autorefs-internal"[^>]*href="(?P<href>[^"]*)"[^>]*><code>')
MIN_ROLE_LINKS = 100    # the API page has about 190 today
# what a page fetches: (tag, attribute); <a href> is a link a reader may follow, not a request
FETCHED = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src"),
           ("audio", "src"), ("video", "src"), ("embed", "src"), ("object", "data"), ("input", "src")}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])(?P<url>[^'")\s]+)""")


class _Fetches(HTMLParser):
    """The URLs a page's tags and inline styles load, and the ids it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        for name, value in attrs:
            if (tag, name) in FETCHED and value is not None:
                # <link rel="canonical"> and the like name a page, they load nothing
                if tag == "link" and not {"stylesheet", "preload", "preconnect", "icon", "modulepreload",
                                          "manifest", "prefetch"} & set((values.get("rel") or "").split()):
                    continue
                self.urls.append((tag, value))
            if name == "style" and value:
                self.urls.extend(("style", m["url"]) for m in CSS_URL.finditer(value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls.extend(("style", m["url"]) for m in CSS_URL.finditer(data))


def _parse(page: Path) -> _Fetches:
    parser = _Fetches()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _leaves_the_site(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.netloc) or parts.scheme not in ("", "data", "blob")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    site = tmp_path_factory.mktemp("docs") / "site"
    done = build_site(site)
    # strict mode aborts on a warning; the lines say which, and a warning MkDocs' strict mode
    # did not count (a plugin's own logger) fails here too
    warnings = warning_lines(done)
    assert done.returncode == 0 and not warnings, "\n".join(warnings) or (done.stdout + done.stderr)[-4000:]
    return site


@pytest.mark.slow
def test_docs_site_builds_strictly_with_every_page(site: Path) -> None:
    assert (site / "index.html").is_file() and (site / "api" / "index.html").is_file()
    assert (site / "notebooks" / "fig1_overview" / "index.html").is_file()
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "PandA" in api and "load_generator" in api


@pytest.mark.slow
def test_every_top_level_name_is_in_the_api_reference(site: Path) -> None:
    import panda_viz

    ids = _parse(site / "api" / "index.html").ids
    missing = [name for name in panda_viz.__all__ if name != "__version__"
               and not any(anchor.endswith(f".{name}") for anchor in ids)]
    assert not missing, f"top-level names the API page does not document: {missing}"


@pytest.mark.slow
def test_docstring_roles_render_as_links(site: Path) -> None:
    api_page = site / "api" / "index.html"
    api = api_page.read_text(encoding="utf-8")
    left = {role: api.count(role) for role in ROLES if role in api}
    assert not left, f"Sphinx roles left as text on the API page: {left}"
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not [role for role in ROLES if role + "`" in text], f"a Sphinx role is left in {page.relative_to(site)}"
    links = [m["href"] for m in ROLE_LINK.finditer(api)]
    assert len(links) >= MIN_ROLE_LINKS, f"only {len(links)} cross-references became links"
    ids = _parse(api_page).ids
    dangling = sorted({href for href in links if href.startswith("#") and href[1:] not in ids})
    assert not dangling, f"links to anchors the API page does not have: {dangling[:10]}"


@pytest.mark.slow
def test_no_page_fetches_from_another_host(site: Path) -> None:
    outside = []
    for page in sorted(site.rglob("*.html")):
        outside += [(page.relative_to(site).as_posix(), tag, url) for tag, url in _parse(page).urls
                    if _leaves_the_site(url)]
    for sheet in sorted(site.rglob("*.css")):
        outside += [(sheet.relative_to(site).as_posix(), "css", m["url"])
                    for m in CSS_URL.finditer(sheet.read_text(encoding="utf-8", errors="replace"))
                    if _leaves_the_site(m["url"])]
    assert not outside, f"{len(outside)} fetches from other hosts, e.g. {outside[:5]}"


@pytest.mark.slow
def test_notebook_pages_load_the_sites_own_mathjax(site: Path) -> None:
    pages = sorted((site / "notebooks").glob("*/index.html"))
    assert pages
    for page in pages:
        scripts = [url for tag, url in _parse(page).urls if tag == "script"]
        mathjax = [url for url in scripts if "MathJax.js" in url]
        where = page.relative_to(site).as_posix()
        assert "" not in scripts, f"{where} has a <script src=\"\">"
        assert len(mathjax) == 1, f"{where} loads MathJax {len(mathjax)} times: {scripts}"
        target = urlsplit(urljoin(f"file://{page.as_posix()}", mathjax[0])).path
        assert Path(target).is_file(), f"{where} loads MathJax from {mathjax[0]}, which is not in the site"
        assert "config=TeX-AMS-MML_HTMLorMML-full" in mathjax[0] and "local/panda_viz" in mathjax[0]
    # the settings for the shipped copy's fonts, where MathJax looks for config=local/panda_viz
    assert (site / "assets" / "mathjax" / "config" / "local" / "panda_viz.js").is_file()


def test_every_docs_page_is_in_the_nav() -> None:
    yaml = (REPO / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").glob("*.md"))
    missing = [p for p in pages if f": {p}" not in yaml]
    assert not missing, f"docs pages not in mkdocs.yml's nav: {missing}"
