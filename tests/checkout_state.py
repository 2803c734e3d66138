"""What ``git status`` says about a checkout, and what changed in it between two looks.

The root ``conftest.py`` takes a :func:`snapshot` when the test session starts and another
when it ends; :func:`changed_paths` lists every file the session wrote that git sees (a
tracked file modified or deleted, a new file not ignored). A file already changed before the
session counts again when its content changed during it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path


def snapshot(root: Path) -> dict[str, str] | None:
    """Each path ``git status --porcelain`` lists under ``root`` -> its status and a content hash.

    Returns
    -------
    dict or None
        None when ``root`` is not a git checkout or git is not installed (nothing to check).
    """
    git = shutil.which("git")
    if git is None or not (Path(root) / ".git").exists():
        return None
    done = subprocess.run([git, "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all"],
                          capture_output=True, check=False)
    if done.returncode != 0:
        return None
    state: dict[str, str] = {}
    for entry in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if len(entry) < 4:
            continue  # the empty tail, or the source path of a rename that follows its entry
        status, path = entry[:2], entry[3:]
        file = Path(root) / path
        digest = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "-"
        state[path] = f"{status} {digest}"
    return state


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The paths whose git status or content differs between two :func:`snapshot` results."""
    paths = set(before) | set(after)
    return sorted(p for p in paths if before.get(p) != after.get(p))
