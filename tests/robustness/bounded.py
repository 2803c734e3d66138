"""Run a snippet of Python in a child process under memory and time limits.

The robustness tests load crafted files that try to blow memory or hang. Running the load
in a child with ``RLIMIT_AS`` and a wall-clock timeout turns a blow-up into a failed
assertion instead of a dead test session, and measures what the load really took.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# the interpreter, torch and numpy alone take about 350 MB of address space before the
# snippet runs; the limit is on what the snippet may add on top of that
BASELINE_AS_MB = 1500


@dataclass(frozen=True)
class Outcome:
    """What the child reported.

    Attributes
    ----------
    error_type : str or None
        The class name of the exception the snippet raised (None when it returned).
    error_message : str
        ``str(exception)`` ('' when it returned).
    error_mro : list of str
        The exception's class names from its MRO (to check it is also a ``ValueError`` …).
    peak_rss_mb : float
        The child's peak resident memory.
    seconds : float
        Wall time of the snippet alone (imports excluded).
    result : object
        What the snippet stored in ``RESULT`` (JSON-serialisable), when it returned.
    """

    error_type: str | None
    error_message: str
    error_mro: list[str]
    peak_rss_mb: float
    seconds: float
    result: object


_RUNNER = r'''
import json, resource, sys, time, traceback
import numpy, torch  # the baseline every snippet pays anyway
import panda_viz
RESULT = None
report = {"error_type": None, "error_message": "", "error_mro": []}
t0 = time.perf_counter()
try:
    exec(compile(SNIPPET, "<snippet>", "exec"))
except BaseException as exc:  # MemoryError and RecursionError too
    report.update(error_type=type(exc).__name__, error_message=str(exc)[:4000],
                  error_mro=[c.__name__ for c in type(exc).__mro__])
report["seconds"] = time.perf_counter() - t0
# VmHWM: the peak of this process's own memory map. ru_maxrss would not do: Linux carries
# the forking parent's high-water mark across exec into it, so a child of a big test
# session reported the session's size, not its own
with open("/proc/self/status") as status:
    report["peak_rss_mb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
try:
    json.dumps(RESULT)
    report["result"] = RESULT
except TypeError:
    report["result"] = repr(RESULT)
print("@@OUTCOME@@" + json.dumps(report))
'''


def run_bounded(snippet: str, *, memory_mb: int = 500, timeout_s: float = 20.0, cwd: Path | None = None) -> Outcome:
    """Run ``snippet`` in a fresh Python with at most ``memory_mb`` of extra address space.

    Parameters
    ----------
    snippet : str
        Python source; it may set ``RESULT`` to a JSON-serialisable value.
    memory_mb : int
        Address space allowed above :data:`BASELINE_AS_MB` (``RLIMIT_AS``): an allocation
        past it fails with ``MemoryError`` inside the child.
    timeout_s : float
        Wall-clock limit for the whole child (imports included, plus 30 s for them).
    cwd : Path, optional
        Working directory of the child.

    Returns
    -------
    Outcome

    Raises
    ------
    AssertionError
        If the child hangs past the timeout or dies without a report (a crash).
    """
    limit = (BASELINE_AS_MB + memory_mb) * 1024 * 1024

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    code = f"SNIPPET = {textwrap.dedent(snippet)!r}\n" + _RUNNER
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout_s + 30, preexec_fn=limit_memory, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the snippet did not finish within {timeout_s + 30:.0f} s:\n{snippet}") from exc
    for line in done.stdout.splitlines():
        if line.startswith("@@OUTCOME@@"):
            outcome = Outcome(**json.loads(line[len("@@OUTCOME@@"):]))
            assert outcome.seconds <= timeout_s, f"the snippet took {outcome.seconds:.1f} s (limit {timeout_s} s):\n{snippet}"
            return outcome
    raise AssertionError(f"the child died without a report (exit {done.returncode}):\n{done.stderr[-3000:]}")
