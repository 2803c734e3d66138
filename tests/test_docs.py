"""The documentation site builds in strict mode: a broken link, a missing page or a
docstring the API reference cannot render fails the suite."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # every page of the nav, the rendered notebooks and the API reference are there
    assert (site / "index.html").is_file() and (site / "api" / "index.html").is_file()
    assert (site / "notebooks" / "fig1_overview" / "index.html").is_file()
    api = (site / "api" / "index.html").read_text()
    assert "PandA" in api and "load_generator" in api
    shutil.rmtree(site)


def test_every_docs_page_is_in_the_nav() -> None:
    yaml = (REPO / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").glob("*.md"))
    missing = [p for p in pages if f": {p}" not in yaml]
    assert not missing, f"docs pages not in mkdocs.yml's nav: {missing}"
