"""Where figures and tables meant for the checkout's ``figures/`` are written.

The notebooks, ``panda-viz figures``, ``panda-viz table2`` and the browser tests' screenshots
write into the source checkout's tracked ``figures/`` folder. Some of those outputs carry
timings (Table 1, Table 2's "took … s", the solver ablation's plot) or pixels that differ
from run to run, so running the test suite would rewrite tracked files. The suite therefore
sets ``$PANDA_VIZ_FIGURES`` to a scratch folder; every writer passes its path through
:func:`figure_destination`, which sends a path inside the checkout's ``figures/`` to the same
relative place under ``$PANDA_VIZ_FIGURES``. Unset (a notebook run by hand,
``panda-viz figures``), nothing is redirected and ``figures/`` is regenerated as before.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["figure_destination", "checkout_figures", "ENV_VAR"]

#: The environment variable naming the folder that takes the place of the checkout's figures/.
ENV_VAR = "PANDA_VIZ_FIGURES"


def checkout_figures() -> Path:
    """The ``figures/`` folder of the source tree panda_viz runs from (it may not exist)."""
    return Path(__file__).resolve().parents[2] / "figures"


def figure_destination(path: str | os.PathLike) -> Path:
    """The path a figure or table meant for ``path`` is written to.

    Parameters
    ----------
    path : str or PathLike
        Where the caller means to write, e.g. ``"../figures/fig3_object_removal.png"`` from
        a notebook in ``notebooks/``.

    Returns
    -------
    Path
        ``path`` itself, unless ``$PANDA_VIZ_FIGURES`` is set and not empty and ``path`` lies
        inside the checkout's ``figures/``: then ``$PANDA_VIZ_FIGURES / <path relative to
        figures/>``, its parent folders created.
    """
    path = Path(path)
    configured = os.environ.get(ENV_VAR, "")
    if not configured:
        return path
    # resolve the parent only: the file itself need not exist yet
    absolute = path.parent.resolve() / path.name
    try:
        relative = absolute.relative_to(checkout_figures())
    except ValueError:  # not a checkout figure: written where asked
        return path
    target = Path(configured).expanduser().resolve() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    return target
