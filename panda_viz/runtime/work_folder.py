"""The work folder: where the Explorer and ``panda-viz lab`` put what a user makes.

Saved edits, saved images, uploaded photos and the working copy of the Explorer notebook
go here, never into the checkout's tracked folders (``notebooks/``, ``figures/``), so that
normal use leaves ``git status`` clean. Which folder, first match wins:

1. ``$PANDA_VIZ_WORK``, when set and not empty (the tests point it at a scratch folder);
2. ``workspace/`` at the top of the source checkout panda_viz runs from (git ignores it);
3. ``~/panda-viz`` for an installed package (no checkout).

Nothing is created by asking: :func:`work_folder` only names the folder, and
:func:`work_path` creates the parents of the one path a caller is about to write.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import InvalidInputError, UnsafePathError

__all__ = ["work_folder", "work_path", "ENV_VAR", "CHECKOUT_FOLDER"]

#: The environment variable that overrides the work folder.
ENV_VAR = "PANDA_VIZ_WORK"
#: The work folder's name at the top of a source checkout (listed in the checkout's .gitignore).
CHECKOUT_FOLDER = "workspace"


def _checkout_root() -> Path | None:
    """The source checkout panda_viz runs from, if it runs from one (a folder with .git and pyproject.toml)."""
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists() and (root / "pyproject.toml").is_file():
        return root
    return None


def work_folder() -> Path:
    """The folder a user's saves go to (see the module docstring for the rule); not created.

    Returns
    -------
    Path
        An absolute path.
    """
    configured = os.environ.get(ENV_VAR, "")
    if configured:
        return Path(configured).expanduser().resolve()
    root = _checkout_root()
    if root is not None:
        return root / CHECKOUT_FOLDER
    return Path.home() / "panda-viz"


def work_path(*parts: str) -> Path:
    """``work_folder() / parts…``, its parent folders created.

    Parameters
    ----------
    *parts : str
        Relative path components, e.g. ``("edits", "edits.json")``; none may be absolute or
        climb out with ``..``.

    Returns
    -------
    Path

    Raises
    ------
    InvalidInputError
        No part given.
    UnsafePathError
        A part is absolute or contains ``..``.
    """
    if not parts:
        raise InvalidInputError("work_path: at least one path component expected; got none")
    for part in parts:
        pieces = Path(part).parts
        if Path(part).is_absolute() or ".." in pieces:
            raise UnsafePathError(f"work_path: a relative path inside the work folder expected; got {part!r}", part)
    path = work_folder().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
