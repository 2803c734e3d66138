"""Feature maps of a generator's layer for N seeded samples, as a re-iterable stream, sharded across ranks.

:class:`FeatureStream` is what :func:`panda_viz.decomposition.fit_generator` fits on and
what :func:`panda_viz.editing.saliency.saliency_thresholds` accepts: each iteration draws the same
latents again and yields the layer's feature maps batch by batch, so memory does not grow
with N. Inside a ``torch.distributed`` process group each rank yields only its own shard
(:func:`panda_viz.runtime.distributed.shard_range`), and the passes that read the stream add up
the ranks' partial sums.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .._checks import as_rng, check_int
from ..runtime import distributed

__all__ = ["FeatureStream", "LATENT_CHUNK", "BLOCK"]

#: Latents are drawn at most this many at once (more: in chunks from one torch.Generator).
LATENT_CHUNK = 8192
#: Samples per block of the streamed passes (panda_viz.decomposition's fixed Gram blocks).
BLOCK = 32


class FeatureStream:
    """The feature maps of ``layer`` for ``n_samples`` latents drawn from ``seed``.

    Sample i is the i-th latent of ``generator.sample_latents(n_samples, seed=seed)`` (up
    to :data:`LATENT_CHUNK` samples; more are drawn in chunks from one ``torch.Generator``
    seeded with ``seed``), run in forward batches of ``batch_size``.

    Parameters
    ----------
    generator : panda_viz.Generator
    layer : str
        A key of ``generator.layers``.
    n_samples : int
    seed : int
        In [0, 2**63 − 1] (a seed, not a ``torch.Generator``: every pass starts again from it).
    batch_size : int or None
        Samples per forward pass; ``None``: as many as fit in ``generator.memory_budget``.
    progress : bool or None
        Progress bar of each pass (``None``: for 1000 samples or more); shown on rank 0 only.
    shard : bool or None
        Read only this rank's shard: ``None`` (default) inside a process group of more
        than one process, ``True``/``False`` to force it.

    Attributes
    ----------
    n_samples : int
        All samples, over every rank.
    start, stop : int
        This rank's samples ``[start, stop)`` (``0, n_samples`` when not sharded).
    across_ranks : bool
        Whether the stream holds one rank's shard (the passes then sum across ranks).
    passes : int
        How many times it was iterated.

    Raises
    ------
    DistributedError
        When sharded over more ranks than there are whole batches (every rank raises it).
    """

    def __init__(
        self,
        generator,
        layer: str,
        *,
        n_samples: int,
        seed: int = 0,
        batch_size: int | None = None,
        progress: bool | None = None,
        shard: bool | None = None,
    ) -> None:
        generator.check_layer(layer)
        if batch_size is None:  # as many as fit in the memory budget (the same on every rank)
            batch_size = generator.batch_size_for(layer)
        self.generator, self.layer = generator, layer
        self.n_samples = check_int("n_samples", n_samples, low=1)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.seed = check_int("seed", seed, low=0, high=2**63 - 1)  # kept, so each pass draws the same latents
        w = distributed.world()
        self.across_ranks = w.active if shard is None else bool(shard) and w.active
        self.progress = progress if w.is_main or not self.across_ranks else False
        if self.across_ranks:
            chunk = LATENT_CHUNK if self.n_samples > LATENT_CHUNK else None
            bounds = distributed.unit_boundaries(self.n_samples, self.batch_size, block=BLOCK, latent_chunk=chunk)
            self.start, self.stop = distributed.shard_range(bounds, w.rank, w.size, what=f"layer {layer!r}")
        else:
            self.start, self.stop = 0, self.n_samples
        self.passes = 0

    def __repr__(self) -> str:
        return (
            f"FeatureStream({self.generator.name!r}, {self.layer!r}, n_samples={self.n_samples}, seed={self.seed}, "
            f"samples [{self.start}, {self.stop}))"
        )

    def latent_chunks(self) -> Iterator[torch.Tensor]:
        """This stream's latents, in the pieces whose batches start where the single-process ones do.

        Every rank draws the whole sequence (cheap next to a forward pass) and keeps its
        slice, so the union over ranks is exactly the single-process latents.
        """
        n, chunk = self.n_samples, LATENT_CHUNK
        if n <= chunk:
            yield self.generator.sample_latents(n, seed=self.seed)[self.start : self.stop]
            return
        rng = as_rng(self.seed)
        for chunk_start in range(0, n, chunk):
            latents = self.generator.sample_latents(min(chunk, n - chunk_start), rng=rng)
            lo, hi = max(self.start, chunk_start), min(self.stop, chunk_start + len(latents))
            if lo < hi:
                yield latents[lo - chunk_start : hi - chunk_start]

    def __iter__(self) -> Iterator[torch.Tensor]:
        self.passes += 1
        for latents in self.latent_chunks():
            yield from self.generator.iter_features(latents, self.layer, batch_size=self.batch_size, progress=self.progress)
