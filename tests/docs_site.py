"""Build the documentation site as the README says (``mkdocs build --strict``), for the docs tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_S = 600   # the API reference and every notebook page, on a busy two-core machine


def build_site(site: Path) -> subprocess.CompletedProcess:
    """Run ``mkdocs build --strict -d site`` in the repository, without ``--quiet``: strict mode's
    warnings are in the output, where a test can look for them."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          check=False, cwd=REPO, capture_output=True, text=True, env=env, timeout=BUILD_S)


def warning_lines(done: subprocess.CompletedProcess) -> list[str]:
    """The lines of a build's output that MkDocs logged as warnings (or worse)."""
    return [line for line in (done.stdout + done.stderr).splitlines()
            if line.startswith(("WARNING", "ERROR", "CRITICAL")) or "Aborted with" in line]
