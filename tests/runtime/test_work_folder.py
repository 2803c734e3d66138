"""The work folder: the environment variable, the checkout's workspace/, never a tracked folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from panda_viz.exceptions import InvalidInputError, UnsafePathError
from panda_viz.runtime import work_folder as wf

REPO = Path(__file__).resolve().parents[2]


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(wf.ENV_VAR, str(tmp_path / "w"))
    assert wf.work_folder() == (tmp_path / "w").resolve()
    assert not (tmp_path / "w").exists()  # naming the folder creates nothing


def test_an_empty_variable_falls_back_to_the_checkout_workspace(monkeypatch):
    monkeypatch.setenv(wf.ENV_VAR, "")
    if not (REPO / ".git").exists():
        pytest.skip("not run from a source checkout")
    assert wf.work_folder() == REPO / wf.CHECKOUT_FOLDER


def test_git_ignores_the_checkout_workspace():
    if not (REPO / ".git").exists():
        pytest.skip("not run from a source checkout")
    probe = f"{wf.CHECKOUT_FOLDER}/edits/edits.json"
    result = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO)
    assert result.returncode == 0, f"{probe} is not ignored by git"


def test_work_path_creates_only_the_parents(tmp_path, monkeypatch):
    monkeypatch.setenv(wf.ENV_VAR, str(tmp_path))
    path = wf.work_path("edits", "edits.json")
    assert path == tmp_path.resolve() / "edits" / "edits.json"
    assert path.parent.is_dir() and not path.exists()


@pytest.mark.parametrize("part", ["../x", "/etc/passwd", "a/../../b"])
def test_work_path_refuses_to_leave_the_folder(tmp_path, monkeypatch, part):
    monkeypatch.setenv(wf.ENV_VAR, str(tmp_path))
    with pytest.raises(UnsafePathError, match="relative path inside the work folder"):
        wf.work_path(part)


def test_work_path_needs_a_component():
    with pytest.raises(InvalidInputError, match="at least one"):
        wf.work_path()
