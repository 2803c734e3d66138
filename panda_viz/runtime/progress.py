"""Progress bars that render as a widget in JupyterLab and as text in a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

#: Work over at least this many samples shows a bar when ``progress=None``.
AUTO_PROGRESS_MIN_SAMPLES = 1000


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    enabled: bool | None = None,
    n_samples: int | None = None,
    desc: str | None = None,
    unit: str = "batch",
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` (``None``: when ``n_samples`` is large).

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    total : int, optional
        Its length, when it has none.
    enabled : bool or None
        ``True`` always shows a bar, ``False`` never; ``None`` shows one when
        ``n_samples >= AUTO_PROGRESS_MIN_SAMPLES``.
    n_samples : int, optional
        How many samples the work covers (for the ``None`` rule).
    desc, unit : str
        Passed to tqdm.
    """
    if enabled is None:
        enabled = n_samples is not None and n_samples >= AUTO_PROGRESS_MIN_SAMPLES
    if not enabled:
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, unit=unit, leave=False)
