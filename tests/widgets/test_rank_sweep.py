"""The background sweep: nearest ranks first, a thread-safe cache that never fits a pair twice, pausing and stopping."""

from __future__ import annotations

import threading

import pytest

from panda_viz.decomposition.low_rank import LowRankApproximations
from panda_viz.widgets.rank_sweep import RankSweep, sweep_order


@pytest.fixture
def approximations(dcgan):
    return LowRankApproximations(dcgan.features(dcgan.sample_latents(6, seed=1), "main.2"))  # 512 × 4 × 4


def test_the_order_starts_at_the_current_rank_and_the_current_method():
    order = sweep_order("panda", 32, 3, 6)
    assert [r for _, _, r in order[::2]] == [3, 2, 4, 1, 5, 6]
    assert order[:4] == [("panda", 32, 3), ("mpca", 32, 3), ("panda", 32, 2), ("mpca", 32, 2)]
    assert sorted(order) == sorted((m, 32, r) for m in ("mpca", "panda") for r in range(1, 7))
    assert sweep_order("hosvd", 8, 1, 2) == [("mpca", 8, 1), ("panda", 8, 1), ("mpca", 8, 2), ("panda", 8, 2)]


def test_the_sweep_fills_the_cache_and_reports_progress(approximations):
    reports = []
    sweep = RankSweep(approximations, on_progress=lambda done, total, finished: reports.append((done, total, finished)))
    try:
        sweep.focus("mpca", 512, 8)
        assert sweep.wait(timeout=120)
        assert sweep.progress() == (32, 32)
        assert all(approximations.is_cached(m, 512, r) for m in ("mpca", "panda") for r in range(1, 17))
        assert reports[-1] == (32, 32, True)
        assert [done for done, _, _ in reports] == sorted(done for done, _, _ in reports)
        assert sweep.error is None
        fitted = approximations.get("panda", 512, 16)
        sweep.focus("panda", 64, 1)             # a new R_C: the sweep goes on there
        assert sweep.wait(timeout=120)
        assert approximations.is_cached("panda", 64, 16)
        assert approximations.get("panda", 512, 16) is fitted
    finally:
        sweep.stop()
    assert not sweep.running


def test_a_paused_sweep_starts_no_fit(approximations):
    sweep = RankSweep(approximations)
    try:
        with sweep.paused():
            sweep.focus("panda", 512, 1)
            assert sweep.wait(timeout=0.5) is False
            assert sweep.progress() == (0, 32)
        assert sweep.wait(timeout=120)
    finally:
        sweep.stop()


def test_a_pair_asked_for_twice_at_once_is_fitted_once(approximations, monkeypatch):
    calls = []
    fit = approximations._fit_panda
    started, release = threading.Event(), threading.Event()

    def slow_fit(r_c, r_s):
        calls.append((r_c, r_s))
        started.set()
        release.wait(30)
        return fit(r_c, r_s)

    monkeypatch.setattr(approximations, "_fit_panda", slow_fit)
    results = []
    worker = threading.Thread(target=lambda: results.append(approximations.get("panda", 512, 3)))
    worker.start()
    assert started.wait(30)
    assert not approximations.is_cached("panda", 512, 3)
    waiter = threading.Thread(target=lambda: results.append(approximations.get("panda", 512, 3)))
    waiter.start()
    release.set()
    worker.join(60)
    waiter.join(60)
    assert calls == [(512, 3)]
    assert len(results) == 2 and results[0] is results[1]


def test_a_failed_fit_is_fitted_again_by_the_next_caller(approximations, monkeypatch):
    fit = approximations._fit_mpca
    failures = []

    def failing_once(r_c, r_s):
        if not failures:
            failures.append(1)
            raise MemoryError("no room")
        return fit(r_c, r_s)

    monkeypatch.setattr(approximations, "_fit_mpca", failing_once)
    with pytest.raises(MemoryError):
        approximations.get("mpca", 512, 2)
    assert approximations.get("mpca", 512, 2).ranks == (512, 2)


def test_a_failing_sweep_stops_and_keeps_the_error(approximations, monkeypatch):
    monkeypatch.setattr(approximations, "_fit_mpca", lambda r_c, r_s: (_ for _ in ()).throw(MemoryError("no room")))
    sweep = RankSweep(approximations, methods=("mpca",))
    sweep.focus("mpca", 512, 1)
    sweep._thread.join(30)
    assert isinstance(sweep.error, MemoryError)
    assert not sweep.running
