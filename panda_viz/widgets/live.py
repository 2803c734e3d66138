"""Sliders that update while dragged as long as one render is fast, on release otherwise.

ipywidgets' front end already throttles a slider with ``continuous_update=True``: at most
one update is in flight per widget and the latest value is sent when the kernel is free
again, so the last value is always drawn. That is good while one render is quick (the
embedded DCGAN's ~45 ms); with a slow generator (a 1024-px one) each drag step would queue
a render of a second or more, so :class:`LiveRule` times the renders a slider triggers and
switches its ``continuous_update`` off above a limit, on again when renders are fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from .._checks import check_float

__all__ = ["LIVE_LIMIT_S", "LiveRule"]

#: A render slower than this (seconds) makes a slider update on release only. Half a second
#: still gives two updates a second while dragging; the first render of a new seed on a
#: loaded 2-core machine took 0.27–0.3 s with the DCGAN, which must stay live.
LIVE_LIMIT_S = 0.5


class LiveRule:
    """Keep ``sliders`` live (``continuous_update=True``) while the last render was fast.

    Parameters
    ----------
    sliders : sequence of ipywidgets sliders, or a callable returning one
        A callable for a panel whose sliders come and go (the edit tab's α rows): it is
        asked at every :meth:`record`.
    limit_s : float
        The slowest render (seconds) that still updates while dragging.
    clock : callable, optional
        Seconds as a float (default ``time.perf_counter``); a test passes a fake clock.

    Attributes
    ----------
    last_s : float or None
        How long the last timed render took.
    live : bool
        Whether the sliders update while dragged.
    """

    def __init__(self, sliders: Sequence[widgets.Widget] | Callable[[], Sequence[widgets.Widget]], *,
                 limit_s: float = LIVE_LIMIT_S, clock: Callable[[], float] = time.perf_counter) -> None:
        self._sliders = sliders if callable(sliders) else tuple(sliders)
        self.limit_s = check_float("limit_s", limit_s)
        self.clock = clock
        self.last_s: float | None = None
        self.live = True
        for slider in self.sliders:
            slider.continuous_update = True

    @property
    def sliders(self) -> tuple[widgets.Widget, ...]:
        """The sliders the rule sets now."""
        return tuple(self._sliders()) if callable(self._sliders) else self._sliders

    def record(self, seconds: float) -> None:
        """A render took ``seconds``: live when that is at most :attr:`limit_s`, on release otherwise."""
        self.last_s = check_float("seconds", seconds, low=0.0, strict=False)
        self.live = self.last_s <= self.limit_s
        for slider in self.sliders:
            if slider.continuous_update != self.live:
                slider.continuous_update = self.live

    def timed(self, render: Callable[..., Any]) -> Callable[..., Any]:
        """``render`` that passes its duration to :meth:`record` (not when it raises: nothing was drawn)."""

        def run(*args: Any, **kwargs: Any) -> Any:
            start = self.clock()
            result = render(*args, **kwargs)
            self.record(max(self.clock() - start, 0.0))
            return result

        return run
