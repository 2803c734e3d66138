"""The bounded runner itself: it reports errors, memory and results, and stops a blow-up."""

from .bounded import run_bounded


def test_returns_result_and_no_error():
    outcome = run_bounded("RESULT = 1 + 1")
    assert outcome.error_type is None and outcome.result == 2


def test_reports_the_error_and_its_classes():
    outcome = run_bounded("from panda_viz.exceptions import FileLimitError\nraise FileLimitError('too big', 'x.pt')")
    assert outcome.error_type == "FileLimitError"
    assert "ValueError" in outcome.error_mro and outcome.error_message == "too big"


def test_an_allocation_past_the_limit_fails_inside_the_child():
    outcome = run_bounded("import numpy as np\nx = np.ones(4_000_000_000, dtype=np.uint8)", memory_mb=300)
    assert outcome.error_type == "MemoryError"


def test_the_peak_is_the_childs_own_not_the_parents():
    """A big parent (a long test session) must not inflate the child's reported peak."""
    ballast = bytearray(600 * 2**20)  # the parent grows by 600 MB before it forks the child
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    outcome = run_bounded("RESULT = 0")
    assert outcome.peak_rss_mb < 550, outcome.peak_rss_mb
    del ballast
