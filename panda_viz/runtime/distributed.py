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
- :func:`process_group`: initialise a group from torchrun's environment variables
  (NCCL with CUDA, Gloo otherwise) and destroy it on exit.

Every collective is wrapped so that a dead, failed or timed-out peer surfaces as a
``DistributedError`` saying which rank saw what, within the group's timeout.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from ..exceptions import DistributedError

__all__ = [
    "World",
    "world",
    "is_active",
    "unit_boundaries",
    "shard_range",
    "Reducer",
    "LOCAL",
    "reducer_for",
    "agree",
    "gather_objects",
    "barrier",
    "process_group",
    "default_device",
    "DEFAULT_TIMEOUT",
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


# --------------------------------------------------------------------------- sharding
def unit_boundaries(n_samples: int, batch_size: int, *, block: int, latent_chunk: int | None = None) -> list[int]:
    """Sample indices where a shard may start: ``[0, …, n_samples]``.

    The single-process stream runs forward batches of ``batch_size`` samples, restarting
    at each latent chunk of ``latent_chunk`` samples (None: one chunk), and cuts the
    features into blocks of ``block`` samples from index 0. A boundary is an index that
    starts both a batch and a block, so that a shard's batches and blocks are exactly the
    single-process ones.

    Parameters
    ----------
    n_samples, batch_size, block : int
    latent_chunk : int, optional

    Returns
    -------
    list of int
        Increasing, from 0 to ``n_samples``.
    """
    chunk = n_samples if latent_chunk is None else latent_chunk
    starts = set()
    for chunk_start in range(0, n_samples, chunk):
        starts.update(range(chunk_start, min(chunk_start + chunk, n_samples), batch_size))
    return sorted(s for s in starts if s % block == 0) + [n_samples]


def shard_range(boundaries: Sequence[int], rank: int, size: int, *, what: str = "samples") -> tuple[int, int]:
    """The contiguous samples ``[start, stop)`` rank ``rank`` of ``size`` reads.

    The units between consecutive ``boundaries`` are dealt out in order, as evenly as
    possible (the first ranks take one more), so rank 0 holds the first samples.

    Raises
    ------
    DistributedError
        When there are fewer units than ranks (a rank would read nothing).
    """
    n_units = len(boundaries) - 1
    if size > n_units:
        raise DistributedError(
            f"world size {size} is larger than the number of batches of {what} ({n_units}: "
            f"{boundaries[-1]} samples in units of whole forward batches and 32-sample blocks); "
            f"use at most {n_units} processes, more samples, or a smaller batch size"
        )
    base, extra = divmod(n_units, size)
    first = rank * base + min(rank, extra)
    last = first + base + (1 if rank < extra else 0)
    return boundaries[first], boundaries[last]


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
def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available (torchrun sets LOCAL_RANK), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


@contextmanager
def process_group(device: str | torch.device | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[World]:
    """Join the process group torchrun describes in the environment, for the duration of a ``with``.

    With ``WORLD_SIZE`` > 1 in the environment (``torchrun`` / ``python -m
    torch.distributed.run`` set it, with ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``) and
    no group yet, initialise one: NCCL when ``device`` is a CUDA device, Gloo otherwise,
    with ``timeout`` seconds for every collective; it is destroyed on exit. Without those
    variables, or inside a group someone else made, it does nothing.

    Yields
    ------
    World
    """
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        yield world()
        return
    if not dist.is_available():
        raise DistributedError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    device = torch.device(device) if device is not None else default_device()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend=backend, init_method="env://", timeout=timedelta(seconds=timeout))
    except Exception as err:
        raise DistributedError(
            f"could not join the process group ({backend}, WORLD_SIZE={size}, RANK={os.environ.get('RANK')}, "
            f"MASTER_ADDR={os.environ.get('MASTER_ADDR')}, MASTER_PORT={os.environ.get('MASTER_PORT')}): "
            f"{_describe(err)}"
        ) from err
    try:
        yield world()
    finally:
        dist.destroy_process_group()
