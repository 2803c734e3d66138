"""A background thread that fits MPCA and PandA at every spatial rank, nearest to the current one first.

The truncated HOSVD gives every rank pair from one decomposition, but MPCA's and PandA's
fits are not nested (PandA's parts at R_S = 5 are not four of its parts at R_S = 4 plus
one), so each rank pair is a fit of its own. :class:`RankSweep` makes those fits while the
class looks at the first view: for the current R_C, every R_S from the current one outwards,
both methods at each, the current one first. A slider move then finds its rank pair in the
:class:`~panda_viz.decomposition.low_rank.LowRankApproximations` cache (whose ``get`` is
thread-safe: a pair the sweep is fitting is waited for, never fitted twice).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..decomposition.low_rank import LowRankApproximations

__all__ = ["RankSweep", "sweep_order"]


def sweep_order(method: str, r_c: int, r_s: int, n_positions: int,
                methods: Sequence[str] = ("mpca", "panda")) -> list[tuple[str, int, int]]:
    """The rank pairs to fit, first to last: every R_S in [1, n_positions] at R_C = ``r_c``,
    nearest to ``r_s`` first (ties: the lower), and at each R_S every method, ``method`` first
    (a class that switches method next finds the neighbouring ranks fitted too)."""
    spatial = sorted(range(1, n_positions + 1), key=lambda r: (abs(r - r_s), r))
    ordered = sorted(methods, key=lambda m: m != method)
    return [(m, r_c, r) for r in spatial for m in ordered]


class RankSweep:
    """Fits ``approximations`` at :func:`sweep_order`'s rank pairs in a daemon thread.

    Parameters
    ----------
    approximations : LowRankApproximations
    on_progress : callable (done, total, finished) -> None, optional
        Called from the sweep's thread after each fit (and once when it has nothing left), with
        how many of the current order's pairs are cached.
    methods : sequence of str
        The fitted methods swept.

    Attributes
    ----------
    error : Exception or None
        What stopped the sweep, if a fit failed (the widget reports it; the thread ends).
    """

    def __init__(self, approximations: LowRankApproximations, *,
                 on_progress: Callable[[int, int, bool], None] | None = None,
                 methods: Sequence[str] = ("mpca", "panda")) -> None:
        self.approximations = approximations
        self.methods = tuple(methods)
        self.on_progress = on_progress
        self.error: Exception | None = None
        self._order: list[tuple[str, int, int]] = []
        self._changed = threading.Condition()
        self._stopped = False
        self._paused = 0
        self._thread: threading.Thread | None = None

    def focus(self, method: str, r_c: int, r_s: int) -> None:
        """Re-order the sweep around the current rank pair (starts the thread the first time)."""
        S = self.approximations.feature_shape[1] * self.approximations.feature_shape[2]
        with self._changed:
            self._order = sweep_order(method, r_c, r_s, S, self.methods)
            self._changed.notify()
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="panda-rank-sweep", daemon=True)
            self._thread.start()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No new fit starts inside (the one under way finishes): the widget's redraw comes first."""
        with self._changed:
            self._paused += 1
        try:
            yield
        finally:
            with self._changed:
                self._paused -= 1
                self._changed.notify_all()

    def progress(self) -> tuple[int, int]:
        """(cached, total) over the current order."""
        with self._changed:
            order = list(self._order)
        done = sum(self.approximations.is_cached(*key) for key in order)
        return done, len(order)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the fit under way (waits at most ``timeout`` seconds for it)."""
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current order is fitted (or the sweep stopped); returns whether it is fitted."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or self._next() is None, timeout)
            return self._next() is None

    def _next(self) -> tuple[str, int, int] | None:
        return next((key for key in self._order if not self.approximations.is_cached(*key)), None)

    def _report(self, finished: bool) -> None:
        if self.on_progress is not None:
            self.on_progress(*self.progress(), finished)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._stopped or not self._paused and self._next() is not None)
                if self._stopped:
                    return
                key = self._next()
            try:
                self.approximations.get(*key)
            except Exception as err:  # noqa: BLE001 - the thread has no caller: the widget reports it
                self.error = err
                self._stopped = True
                return
            with self._changed:
                finished = self._next() is None
                self._changed.notify_all()
            self._report(finished)
