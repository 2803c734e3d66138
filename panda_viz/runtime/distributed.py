"""Running panda_viz across the processes of a ``torch.distributed`` group: one module for all the plumbing.

Inside an initialised process group (``torchrun`` / ``python -m torch.distributed.run``),
the streamed passes of a fit (Gram pass, free-basis passes, μ_k means) read a disjoint
shard of the samples on each rank and complete their sums here. Everything that talks to
the other ranks lives in this module:

- :func:`world`: this process's rank, the world size and the backend;
- :func:`unit_boundaries` and :func:`shard_range`: which samples a rank reads. The unit of
  sharding is the smallest run of samples that starts on both a forward-batch boundary
  and a 32-sample block boundary of the single-process stream, so every block a rank
  forms holds exactly the samples, batched exactly as, the single-process block: its
  float32 products and float64 partial sums are bit-identical;
- :class:`Reducer`: how a pass completes its sums. :data:`LOCAL` does nothing; an
  across-ranks reducer all-gathers each rank's float64 partial sums and adds them **in
  rank order** on every rank. The shards are contiguous and in rank order, so the result
  is the single-process sum regrouped at the shard boundaries (equal up to float64
  round-off, ~1e-16 relative, and bit-identical after the Gram pass's final rounding to
  float32 in all but rare cases). An ``all_reduce`` would cost less memory, but its
  summation order is the backend's (ring or tree, chunked by message size) and changes
  with the world size and the NCCL version; the gathered sum is the same on every rank
  and the same on every backend;
- :func:`agree`: run a step on every rank and, if it fails on any, raise
  :class:`~panda_viz.exceptions.DistributedError` on **every** rank naming the failing
  rank and its error (instead of leaving the others waiting in a collective);
- :func:`barrier`: a barrier bounded in time (``monitored_barrier`` on Gloo, which names
  the ranks that did not arrive);
- :func:`launch_settings` and :func:`process_group`: torchrun's environment variables,
  each checked by name; a group initialised from them (NCCL with CUDA, Gloo otherwise)
  after a short rendezvous of its own, destroyed on exit.

Every collective is wrapped so that a dead, failed or timed-out peer surfaces as a
``DistributedError`` saying which rank saw what, within the group's timeout.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from .._checks import check_float
from ..exceptions import DistributedError, InvalidInputError
from .devices import check_device
from .sharding import shard_range, shard_units, unit_boundaries

__all__ = [
    "World",
    "world",
    "is_active",
    "unit_boundaries",
    "shard_range",
    "shard_units",
    "Reducer",
    "LOCAL",
    "reducer_for",
    "agree",
    "gather_objects",
    "barrier",
    "process_group",
    "default_device",
    "launch_settings",
    "Launch",
    "DEFAULT_TIMEOUT",
    "DEFAULT_RENDEZVOUS_TIMEOUT",
    "MAX_TIMEOUT",
    "MAX_WORLD_SIZE",
]

#: Seconds a collective waits for the other ranks before the group reports them failed.
DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class World:
    """Where this process stands in the process group.

    Attributes
    ----------
    rank, size : int
        ``0`` and ``1`` outside a process group.
    backend : str or None
        ``"gloo"``, ``"nccl"``, … (None outside a group).
    """

    rank: int
    size: int
    backend: str | None

    @property
    def active(self) -> bool:
        """More than one process: the passes shard and reduce."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that writes files and shows progress bars."""
        return self.rank == 0


def world() -> World:
    """This process's rank, the world size and the backend (rank 0 of 1 outside a group)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), str(dist.get_backend()))
    return World(0, 1, None)


def is_active() -> bool:
    """True inside an initialised process group of more than one process."""
    return world().active


# ------------------------------------------------------------------ error propagation
def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


@contextmanager
def _collective(what: str) -> Iterator[None]:
    """Turn a failing collective (a peer died, failed or timed out) into a DistributedError."""
    try:
        yield
    except DistributedError:
        raise
    except Exception as err:  # the backends raise RuntimeError, DistBackendError, DistNetworkError…
        w = world()
        raise DistributedError(
            f"rank {w.rank} of {w.size}: {what} failed: another rank died, failed or did not answer "
            f"within the process group's timeout ({_describe(err)})"
        ) from err


def gather_objects(obj: Any, *, what: str = "gather") -> list:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` outside a group."""
    w = world()
    if not w.active:
        return [obj]
    out: list = [None] * w.size
    with _collective(what):
        dist.all_gather_object(out, obj)
    return out


def agree(compute: Callable[[], Any], what: str) -> Any:
    """Run ``compute()`` on this rank; if it raised on any rank, raise DistributedError on every rank.

    Outside a group ``compute()`` runs as is (its own exceptions propagate). Inside one,
    the ranks exchange a status after it: each rank then either returns its own result
    or raises a :class:`~panda_viz.exceptions.DistributedError` listing every failing rank
    with its error (chained to the local error where there is one), so no rank is left
    waiting in the next collective.
    """
    if not is_active():
        return compute()
    try:
        result, error = compute(), None
    except Exception as err:  # reported to every rank, then re-raised as DistributedError
        result, error = None, err
    statuses = gather_objects(None if error is None else _describe(error), what=f"{what} (status exchange)")
    failures = [(rank, status) for rank, status in enumerate(statuses) if status is not None]
    if failures:
        w = world()
        by_error: dict[str, list[int]] = {}
        for rank, status in failures:
            by_error.setdefault(status, []).append(rank)
        listing = "; ".join(
            f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))} failed: {status}" for status, ranks in by_error.items()
        )
        exc = DistributedError(f"{what} failed on {len(failures)} of {w.size} ranks (this is rank {w.rank}): {listing}")
        exc.failures = failures  # type: ignore[attr-defined]
        raise exc from error
    return result


def barrier(what: str = "barrier", timeout: float | None = None) -> None:
    """Wait for every rank, at most ``timeout`` seconds (default: the group's timeout).

    Gloo uses ``monitored_barrier``, whose error names the ranks that did not arrive.
    """
    w = world()
    if not w.active:
        return
    with _collective(what):
        if w.backend == "gloo":
            kwargs = {} if timeout is None else {"timeout": timedelta(seconds=timeout)}
            dist.monitored_barrier(wait_all_ranks=True, **kwargs)
        else:
            dist.barrier()


# --------------------------------------------------------------------------- reductions
def _wire_device(backend: str | None, device: torch.device) -> torch.device:
    """Where a tensor must be for a collective: CUDA for NCCL, the CPU for Gloo and the others."""
    if backend == "nccl":
        return device if device.type == "cuda" else torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class Reducer:
    """How a streamed pass completes its sums and shares its small results.

    Parameters
    ----------
    across_ranks : bool
        False (:data:`LOCAL`): sums are already complete. True: each rank holds the
        partial sums of its shard; :meth:`sum` adds them in rank order on every rank.
    """

    def __init__(self, across_ranks: bool) -> None:
        self.across_ranks = bool(across_ranks)

    def __repr__(self) -> str:
        return f"Reducer(across_ranks={self.across_ranks})"

    @property
    def active(self) -> bool:
        return self.across_ranks and is_active()

    def sum(self, compute: Callable[[], Sequence[torch.Tensor | float | int | None]], what: str) -> tuple:
        """Run ``compute()`` (this rank's partial sums) and return the sums over all ranks.

        ``compute`` returns a sequence of tensors or numbers (``None`` entries stay None).
        Numbers come back as Python floats. Each tensor is gathered as float64 and the
        ranks' partials are added in rank order, ``((s_0 + s_1) + s_2) + …``, identically on
        every rank. A failure of ``compute`` on any rank raises DistributedError on all
        (see :func:`agree`).
        """
        if not self.active:
            return tuple(compute())
        partials = agree(compute, what)
        w = world()
        out: list = []
        for value in partials:
            if value is None:
                out.append(None)
                continue
            is_number = not isinstance(value, torch.Tensor)
            tensor = torch.as_tensor(value, dtype=torch.float64) if is_number else value
            home = tensor.device
            wire = tensor.detach().to(device=_wire_device(w.backend, home), dtype=torch.float64).contiguous()
            gathered = [torch.empty_like(wire) for _ in range(w.size)]
            with _collective(what):
                dist.all_gather(gathered, wire)
            total = gathered[0]
            for part in gathered[1:]:
                total = total + part
            out.append(float(total) if is_number else total.to(device=home, dtype=tensor.dtype))
        return tuple(out)

    def broadcast(self, *tensors: torch.Tensor, what: str = "broadcast") -> tuple:
        """Rank 0's values of ``tensors`` on every rank (the tensors themselves when local)."""
        if not self.active:
            return tensors
        w = world()
        out = []
        for tensor in tensors:
            wire = tensor.detach().to(_wire_device(w.backend, tensor.device)).contiguous()
            with _collective(what):
                dist.broadcast(wire, src=0)
            out.append(wire.to(tensor.device))
        return tuple(out)

    def shared_seed(self, seed: int | None) -> int | None:
        """``seed``, or when None and active, one random seed drawn on rank 0 and shared by all."""
        if seed is not None or not self.active:
            return seed
        return gather_objects(secrets.randbits(63) if world().is_main else None, what="seed")[0]


#: Sums that are already complete: one process, or data every rank holds in full.
LOCAL = Reducer(False)


def reducer_for(source: Any) -> Reducer:
    """The reducer of a feature source: across ranks when it says it holds one rank's shard.

    A source opts in with a true ``across_ranks`` attribute (e.g.
    :class:`panda_viz.generators.FeatureStream` inside a process group); tensors and plain
    iterables are complete on every rank and reduce locally.
    """
    return Reducer(True) if getattr(source, "across_ranks", False) is True else LOCAL


# ----------------------------------------------------------------------- process groups
#: Seconds the ranks wait for each other when a group starts (a missing peer fails this fast).
DEFAULT_RENDEZVOUS_TIMEOUT = 60.0
#: The longest timeout accepted, in seconds (a week): past it, timedelta and the backends'
#: millisecond counters overflow, and a job that waits longer has hung.
MAX_TIMEOUT = 7 * 24 * 3600.0
#: The largest WORLD_SIZE accepted.
MAX_WORLD_SIZE = 65_536


@dataclass(frozen=True)
class Launch:
    """torchrun's environment variables, parsed and checked (see :func:`launch_settings`).

    Attributes
    ----------
    world_size, rank, local_rank : int
        ``1``, ``0``, ``0`` when the variables are not set.
    master_addr : str or None
    master_port : int or None
        Set (and checked) when ``world_size > 1``.
    """

    world_size: int
    rank: int
    local_rank: int
    master_addr: str | None
    master_port: int | None

    def describe(self) -> str:
        return (f"WORLD_SIZE={self.world_size}, RANK={self.rank}, MASTER_ADDR={self.master_addr}, "
                f"MASTER_PORT={self.master_port}")


def _env_int(environ: Mapping[str, str], name: str, low: int, high: int, default: int | None, why: str) -> int | None:
    """An integer environment variable, or an error naming it, what it holds and what is allowed."""
    text = environ.get(name)
    if text is None:
        return default
    match = re.fullmatch(r"\s*\+?(\d{1,12})\s*", text)  # digits only: int() would take ' 1_0 ', and 5000 digits slowly
    value = int(match[1]) if match else None
    if value is None or not low <= value <= high:
        shown = repr(text if len(text) <= 40 else text[:37] + "...")
        allowed = f"a whole number in [{low}, {high}]" if low < high else f"{low}"
        raise InvalidInputError(f"environment variable {name} must be {allowed} ({why}); got {shown}")
    return value


def launch_settings(environ: Mapping[str, str] | None = None) -> Launch:
    """Read and check ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.

    Without ``WORLD_SIZE`` (or with ``WORLD_SIZE=1``) the process runs alone; a ``RANK`` or
    ``LOCAL_RANK`` other than 0 is then refused (a rank of a job that is not there). With
    ``WORLD_SIZE`` > 1, ``RANK`` and both ``MASTER_`` variables must be set.

    Parameters
    ----------
    environ : mapping, optional
        The variables (default: ``os.environ``).

    Raises
    ------
    InvalidInputError
        A variable that is not a whole number in its range (``WORLD_SIZE=-3``,
        ``WORLD_SIZE=abc``, ``RANK=2`` of 2, ``MASTER_PORT=70000``), or one that is missing;
        the message names the variable.
    """
    env = os.environ if environ is None else environ
    size = _env_int(env, "WORLD_SIZE", 1, MAX_WORLD_SIZE, 1, "the number of processes; torchrun sets it, unset it to run alone")
    if size == 1:
        for name in ("RANK", "LOCAL_RANK"):
            _env_int(env, name, 0, 0, 0, "WORLD_SIZE is 1 or unset: one process, rank 0")
        return Launch(1, 0, 0, env.get("MASTER_ADDR"), None)
    rank = _env_int(env, "RANK", 0, size - 1, None, f"this process's rank of WORLD_SIZE={size}")
    if rank is None:
        raise InvalidInputError(f"environment variable RANK must be set when WORLD_SIZE={size} (torchrun sets both)")
    local_rank = _env_int(env, "LOCAL_RANK", 0, size - 1, 0, f"this process's rank on its machine, below WORLD_SIZE={size}")
    port = _env_int(env, "MASTER_PORT", 1, 65_535, None, "the rank-0 machine's TCP port")
    addr = env.get("MASTER_ADDR", "").strip()
    if port is None or not addr or len(addr) > 255 or any(c.isspace() for c in addr):
        missing = "MASTER_PORT" if port is None else "MASTER_ADDR"
        raise InvalidInputError(f"environment variable {missing} must be set (a host name or address, and a TCP port) "
                                f"when WORLD_SIZE={size}; got MASTER_ADDR={env.get('MASTER_ADDR')!r}, "
                                f"MASTER_PORT={env.get('MASTER_PORT')!r}")
    return Launch(size, rank, local_rank, addr, port)


def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available (torchrun sets LOCAL_RANK), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", launch_settings().local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def _rendezvous(launch: Launch, rendezvous_timeout: float, backend: str) -> Any:
    """The store every rank has joined, within ``rendezvous_timeout`` seconds; a missing peer is named."""
    try:
        store, _, _ = next(dist.rendezvous("env://", timeout=timedelta(seconds=rendezvous_timeout)))
    except Exception as err:  # DistStoreError (peers missing), DistNetworkError (no rank 0), address in use…
        raise DistributedError(
            f"the process group did not form within the rendezvous timeout of {rendezvous_timeout:g} s "
            f"({backend}; {launch.describe()}): expected {launch.world_size} processes to meet at "
            f"{launch.master_addr}:{launch.master_port}. Start every rank (torchrun --nproc-per-node=N starts them "
            f"all), check MASTER_ADDR/MASTER_PORT, or unset WORLD_SIZE to run alone ({_describe(err)[:300]})"
        ) from err
    return store


@contextmanager
def process_group(device: str | torch.device | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                  rendezvous_timeout: float = DEFAULT_RENDEZVOUS_TIMEOUT) -> Iterator[World]:
    """Join the process group torchrun describes in the environment, for the duration of a ``with``.

    With ``WORLD_SIZE`` > 1 in the environment (``torchrun`` / ``python -m
    torch.distributed.run`` set it, with ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
    :func:`launch_settings` checks them) and no group yet, initialise one: NCCL when
    ``device`` is a CUDA device, Gloo otherwise. The ranks first meet within
    ``rendezvous_timeout`` seconds (a rank whose peers never start fails then, naming
    MASTER_ADDR/PORT and WORLD_SIZE); then every collective may wait ``timeout`` seconds.
    The group is destroyed on exit. Without those variables, or inside a group someone
    else made, it does nothing.

    Parameters
    ----------
    device : str or torch.device, optional
        Checked by :func:`panda_viz.runtime.devices.check_device` (default :func:`default_device`).
    timeout, rendezvous_timeout : float
        Seconds, in (0, :data:`MAX_TIMEOUT`].

    Yields
    ------
    World

    Raises
    ------
    InvalidInputError
        A bad environment variable (named), a timeout out of range, a device this machine lacks.
    DistributedError
        The peers did not meet in time, or the group could not start.
    """
    timeout = check_float("process_group: timeout (seconds)", timeout, low=0.0, high=MAX_TIMEOUT)
    rendezvous_timeout = check_float("process_group: rendezvous_timeout (seconds)", rendezvous_timeout, low=0.0,
                                     high=MAX_TIMEOUT)
    if dist.is_available() and dist.is_initialized():  # someone else's group: theirs to set up
        yield world()
        return
    launch = launch_settings()
    if launch.world_size <= 1:
        yield world()
        return
    if not dist.is_available():
        raise DistributedError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    device = check_device(device, name="process_group: device") if device is not None else default_device()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    store = _rendezvous(launch, rendezvous_timeout, backend)
    store.set_timeout(timedelta(seconds=timeout))  # from now on, the collectives' patience
    try:
        dist.init_process_group(backend=backend, store=store, rank=launch.rank, world_size=launch.world_size,
                                timeout=timedelta(seconds=timeout))
    except Exception as err:
        raise DistributedError(f"could not join the process group ({backend}, {launch.describe()}): {_describe(err)}") from err
    try:
        yield world()
    finally:
        dist.destroy_process_group()
