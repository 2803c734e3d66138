"""Where the tests' data live: ``tests/data/``, inside the checkout (see ``tests/data/README.md``).

Every test that reads the reference generators and vectors takes their folder from here,
so nothing reads outside the checkout (``tests/test_testdata.py`` checks that).

    from testdata import TESTDATA, data_folder
    G = panda_viz.load_generator(data_folder("genforce-stylegan2") / "checkpoint.pth")
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TESTDATA", "data_folder"]

#: ``tests/data/``: one folder per reference generator (``stylegan2``, ``stylegan3-t``, …)
TESTDATA = Path(__file__).resolve().parent / "data"


def data_folder(name: str) -> Path:
    """``tests/data/<name>``, the folder of one reference generator; it must exist (the data ship)."""
    path = TESTDATA / name
    if not path.is_dir():
        known = ", ".join(sorted(p.name for p in TESTDATA.iterdir() if p.is_dir()))
        raise FileNotFoundError(f"no test data folder {name!r} in {str(TESTDATA)!r}; there are: {known}")
    return path
