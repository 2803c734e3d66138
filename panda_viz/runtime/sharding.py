"""Which samples each rank of a process group reads: whole units, dealt out in order (arithmetic only).

:func:`panda_viz.runtime.distributed` re-exports these; they need no process group and
build no list longer than the boundaries they return.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..exceptions import DistributedError

__all__ = ["unit_boundaries", "shard_range", "shard_units"]


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
    bounds = []
    # walk the block starts (n_samples / block of them), never every batch start: a batch of 1
    # over ten million samples would otherwise build a set of ten million ints
    for chunk_start in range(0, n_samples, chunk):
        first_block = -(-chunk_start // block) * block
        bounds.extend(s for s in range(first_block, min(chunk_start + chunk, n_samples), block)
                      if (s - chunk_start) % batch_size == 0)
    return bounds + [n_samples]


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
    first, last = shard_units(n_units, rank, size, what=what,
                              units=f"{boundaries[-1]} samples in units of whole forward batches and 32-sample blocks")
    return boundaries[first], boundaries[last]


def shard_units(n_units: int, rank: int, size: int, *, what: str = "samples", units: str = "") -> tuple[int, int]:
    """The contiguous units ``[first, last)`` of ``n_units`` rank ``rank`` of ``size`` takes (arithmetic only).

    Dealt out in order, as evenly as possible (the first ranks take one more).

    Raises
    ------
    DistributedError
        When there are fewer units than ranks (a rank would have nothing to do).
    """
    if size > n_units:
        raise DistributedError(
            f"world size {size} is larger than the number of batches of {what} ({n_units}{': ' + units if units else ''}); "
            f"use at most {n_units} processes, more samples, or a smaller batch size"
        )
    base, extra = divmod(n_units, size)
    first = rank * base + min(rank, extra)
    return first, first + base + (1 if rank < extra else 0)
