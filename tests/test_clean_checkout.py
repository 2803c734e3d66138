"""The test session leaves ``git status`` as it found it: the checker (tests/checkout_state.py
and the root conftest.py) on a temporary git repository, and the session's scratch folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from checkout_state import changed_paths, snapshot

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git (apt-get install git)")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository with two committed files, an ignored folder and the checker's two files."""
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tracked.txt").write_text("one\n")
    (repo / "dirty.txt").write_text("committed\n")
    (repo / ".gitignore").write_text("/ignored/\n*.log\n__pycache__/\n.pytest_cache/\n")
    shutil.copyfile(ROOT / "conftest.py", repo / "conftest.py")
    shutil.copyfile(ROOT / "tests" / "checkout_state.py", repo / "tests" / "checkout_state.py")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "start")
    return repo


def test_the_checker_sees_every_kind_of_change(repo):
    (repo / "dirty.txt").write_text("changed before the session\n")
    before = snapshot(repo)
    assert changed_paths(before, snapshot(repo)) == []
    (repo / "ignored").mkdir()
    (repo / "ignored" / "scratch.png").write_bytes(b"x")  # git-ignored: fine
    assert changed_paths(before, snapshot(repo)) == []
    (repo / "tracked.txt").write_text("two\n")  # a tracked file rewritten
    (repo / "dirty.txt").write_text("changed again\n")  # already dirty, changed again
    (repo / "new.md").write_text("new\n")  # a new file git sees
    (repo / ".gitignore").unlink()  # a tracked file deleted (ignored/ now shows too)
    assert changed_paths(before, snapshot(repo)) == [".gitignore", "dirty.txt", "ignored/scratch.png", "new.md",
                                                     "tracked.txt"]


def test_a_folder_without_git_is_not_checked(tmp_path):
    assert snapshot(tmp_path) is None


WRITES_A_TRACKED_FILE = '''
import os
from pathlib import Path

def test_writes():
    Path(__file__).resolve().parents[1].joinpath("tracked.txt").write_text("rewritten\\n")

def test_scratch_folders_are_set():
    assert os.environ["PANDA_VIZ_WORK"].endswith("work") and os.environ["PANDA_VIZ_FIGURES"].endswith("figures")
'''


def _pytest(repo: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PANDA_VIZ_WORK", "PANDA_VIZ_FIGURES")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "tests"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def test_a_session_that_writes_a_tracked_file_fails_and_names_it(repo):
    (repo / "tests" / "test_writer.py").write_text(WRITES_A_TRACKED_FILE)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a test that writes")
    done = _pytest(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed" in done.stdout  # the tests passed; the session failed
    assert "the test session changed 1 file(s) of the checkout" in done.stdout and "    tracked.txt" in done.stdout

    _git(repo, "checkout", "--", "tracked.txt")
    (repo / "tests" / "test_writer.py").write_text(WRITES_A_TRACKED_FILE.replace('"tracked.txt"', '"scratch.log"'))
    _git(repo, "commit", "-q", "-am", "a test that writes nothing git sees")
    done = _pytest(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed" not in done.stdout


def test_this_session_writes_figures_and_saves_to_scratch_folders():
    from panda_viz.runtime.figure_folder import checkout_figures, figure_destination
    from panda_viz.runtime.work_folder import work_folder

    for name in ("PANDA_VIZ_WORK", "PANDA_VIZ_FIGURES"):
        folder = Path(os.environ[name]).resolve()
        assert ROOT not in folder.parents, f"${name} is inside the checkout: {folder}"
    assert work_folder() == Path(os.environ["PANDA_VIZ_WORK"]).resolve()
    target = figure_destination(ROOT / "notebooks" / ".." / "figures" / "table2" / "table2.md")
    assert target == Path(os.environ["PANDA_VIZ_FIGURES"]).resolve() / "table2" / "table2.md"
    assert target.parent.is_dir() and checkout_figures() == ROOT / "figures"
