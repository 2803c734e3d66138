"""The whole test session (tests/ and the nbval notebooks) leaves the checkout as it found it.

Before any test or notebook kernel starts, ``$PANDA_VIZ_WORK`` (the Explorer's and the lab's
saves) and ``$PANDA_VIZ_FIGURES`` (figures and tables meant for ``figures/``) point at one
scratch folder for the session; kernels inherit them. A value already set is kept. When the
session ends, ``git status`` is compared with its state at the start: any file the session
changed, created or deleted fails the run, listed by name.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def _checkout_state():
    """tests/checkout_state.py, loaded by path (the root conftest runs before tests/ is importable)."""
    spec = importlib.util.spec_from_file_location("checkout_state", ROOT / "tests" / "checkout_state.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_STATE = _checkout_state()
_SESSION: dict = {}


def pytest_configure(config):
    scratch = Path(tempfile.mkdtemp(prefix="panda-viz-tests-"))
    _SESSION["scratch"] = scratch
    chosen = os.environ.get("PANDA_VIZ_FIGURES", "")
    _SESSION["figures_allowed"] = bool(chosen) and Path(chosen).resolve() == ROOT / "figures"
    for name, folder in (("PANDA_VIZ_WORK", "work"), ("PANDA_VIZ_FIGURES", "figures")):
        if not os.environ.get(name):
            os.environ[name] = str(scratch / folder)
    _SESSION["before"] = _STATE.snapshot(ROOT)


def pytest_sessionfinish(session, exitstatus):
    before = _SESSION.get("before")
    after = _STATE.snapshot(ROOT) if before is not None else None
    shutil.rmtree(_SESSION.get("scratch", ""), ignore_errors=True)
    if before is None or after is None:
        return
    changed = _STATE.changed_paths(before, after)
    if _SESSION["figures_allowed"]:
        changed = [path for path in changed if not path.startswith("figures/")]
    if not changed:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"the test session changed {len(changed)} file(s) of the checkout (git status); "
             "tests and notebooks must write to tmp_path, $PANDA_VIZ_WORK or $PANDA_VIZ_FIGURES:"]
    lines += [f"    {path}" for path in changed]
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
