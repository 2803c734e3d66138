"""Appearance rankings of every part of a model, computed in a background thread, cached.

The edit panel offers the appearances of a part in the order
:func:`panda_viz.editing.ranking.rank_appearances` gives; one ranking costs about a second
on the embedded DCGAN, so :class:`RankingCache` computes all of a model's parts in a daemon
thread as soon as the model is on show, and the panel asks :meth:`RankingCache.get`, which
returns a ranking already computed or computes that one part on demand. A new model
(:meth:`RankingCache.reset`) makes the thread's later results stale: they are dropped.
"""

from __future__ import annotations

import atexit
import copy
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .._checks import check_int
from ..editing.ranking import AppearanceRanking, rank_appearances

__all__ = ["RankingCache"]

#: The caches with a thread, stopped at exit: a daemon thread killed inside a torch op aborts
#: the interpreter ("terminate called without an active exception").
_RUNNING: weakref.WeakSet = weakref.WeakSet()


class RankingCache:
    """Thread-safe rankings of a model's parts, filled in the background.

    Parameters
    ----------
    generator : Generator
    n_samples, n_candidates : int
        Samples (seeds 0…n-1) and leading appearances each ranking uses.

    Attributes
    ----------
    thread : threading.Thread or None
        The last background thread started (join it to wait for every part).
    model : fitted PandA model or None
        The model the cached rankings are of.
    """

    def __init__(self, generator: Any, *, n_samples: int = 4, n_candidates: int = 32) -> None:
        self.generator = generator
        self.n_samples = check_int("RankingCache: n_samples", n_samples, low=1)
        self.n_candidates = check_int("RankingCache: n_candidates", n_candidates, low=1)
        self.model: Any = None
        self.thread: threading.Thread | None = None
        self._layer: str | None = None
        self._alpha = 1.0
        self._rankings: dict[Any, AppearanceRanking] = {}
        self._generation = 0  # bumped by reset: a thread of an older generation stores nothing
        self._lock = threading.Lock()

    def reset(self, model: Any, *, layer: str, alpha: float) -> None:
        """Rank ``model``'s parts from now on (at ``layer``, with |α| ``alpha``); drops the old ones."""
        with self._lock:
            self._generation += 1
            self.model, self._layer, self._alpha = model, layer, float(alpha)
            self._rankings.clear()

    def stop(self, *, timeout: float | None = None) -> None:
        """Make the background thread stop after the part it is ranking (its results are
        dropped), and wait for it up to ``timeout`` seconds."""
        with self._lock:
            self._generation += 1
            self._rankings.clear()
        if self.thread is not None:
            self.thread.join(timeout)

    def cached(self, part: Any) -> AppearanceRanking | None:
        """The ranking of ``part`` if it is computed already, else None."""
        with self._lock:
            return self._rankings.get(part)

    def get(self, part: Any) -> AppearanceRanking:
        """The ranking of ``part`` (an int or a tuple of parts): cached, or computed now."""
        ranking = self.cached(part)
        if ranking is None:
            with self._lock:
                generation = self._generation
            ranking = self._rank(self.generator, part)
            self._store(generation, part, ranking)
        return ranking

    def start(self, *, on_done: Callable[[], None] | None = None) -> threading.Thread:
        """Rank every part of the current model in a daemon thread (returns it).

        The thread works on a copy of the generator, so its hooks never touch the modules the
        interface renders with; parts ranked meanwhile on demand are skipped; after a
        :meth:`reset` it stops and stores nothing more. ``on_done`` runs when every part is in.
        """
        with self._lock:
            generation, model = self._generation, self.model
        generator = copy.deepcopy(self.generator)

        def work() -> None:
            for part in range(int(model.parts_.shape[0])):
                if self._generation != generation:
                    return
                if self.cached(part) is None:
                    self._store(generation, part, self._rank(generator, part, model=model))
            if on_done is not None and self._generation == generation:
                on_done()

        self.thread = threading.Thread(target=work, name="panda-viz rankings", daemon=True)
        _RUNNING.add(self)
        self.thread.start()
        return self.thread

    def _rank(self, generator: Any, part: Any, *, model: Any = None) -> AppearanceRanking:
        model = self.model if model is None else model
        z = generator.sample_latents(self.n_samples, seed=0)
        n = min(self.n_candidates, int(model.appearances_.shape[1]))
        return rank_appearances(generator, z, model, part, candidates=n, alpha=self._alpha, layer=self._layer)

    def _store(self, generation: int, part: Any, ranking: AppearanceRanking) -> None:
        with self._lock:
            if generation == self._generation:  # a ranking of a replaced model is stale
                self._rankings.setdefault(part, ranking)


@atexit.register
def _stop_all() -> None:
    for cache in list(_RUNNING):
        cache.stop(timeout=30)
