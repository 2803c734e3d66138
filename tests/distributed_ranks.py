"""Run a function on several processes joined in a Gloo process group on 127.0.0.1, bounded in time.

``run_ranks(target, world_size, tmp_path, *args)`` spawns ``world_size`` fresh Python
processes (``spawn``: nothing inherited but the arguments), each of which joins the group
with a short timeout and calls ``target(rank, out_dir, *args)``. Each rank's return value
(or the error it raised, as ``(type name, message)``) is saved to ``out_dir`` and returned
in rank order, with the process exit codes. A process still alive after ``timeout``
seconds is killed and the call fails: a test never hangs.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path

from ports import free_port

#: Seconds every collective may wait for a peer inside the spawned groups.
GROUP_TIMEOUT = 60.0


def _entry(target, rank: int, world_size: int, port: int, out_dir: str, group_timeout: float, args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    import torch

    torch.set_num_threads(1)  # two ranks on a two-core machine
    import torch.distributed as dist

    result: object
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=group_timeout))
        try:
            result = ("ok", target(rank, Path(out_dir), *args))
        finally:
            dist.destroy_process_group()
    except BaseException as err:  # reported to the test, which asserts on it
        result = ("error", type(err).__name__, str(err), traceback.format_exc())
    with open(Path(out_dir) / f"rank{rank}.pkl", "wb") as f:
        pickle.dump(result, f)
    # End here, without the interpreter's shutdown: the result is written, and torch's C++
    # teardown of a destroyed Gloo group (its store threads) sometimes aborts at exit
    # ("terminate called without an active exception", exit -6), once in two CI runs here,
    # after every collective had finished and the rank had reported "ok".
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_ranks(target, world_size: int, out_dir: Path, *args, timeout: float = 240.0,
              group_timeout: float = GROUP_TIMEOUT) -> tuple[list, list]:
    """Run ``target(rank, out_dir, *args)`` on ``world_size`` ranks; returns (results, exit codes)."""
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = [
        ctx.Process(target=_entry, args=(target, rank, world_size, port, str(out_dir), group_timeout, args))
        for rank in range(world_size)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    hung = [rank for rank, p in enumerate(procs) if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(10)
    if hung:
        raise AssertionError(f"ranks {hung} still running after {timeout} s (killed)")
    results = []
    for rank in range(world_size):
        path = out_dir / f"rank{rank}.pkl"
        results.append(pickle.loads(path.read_bytes()) if path.exists() else None)
    return results, [p.exitcode for p in procs]
