"""One streaming pass over the feature maps: the Gram matrices every solver starts from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from ..runtime import distributed
from ..runtime.progress import progress as _progress
from ._validation import FeatureSource

__all__ = ["Grams", "accumulate_grams", "as_product_block", "fixed_blocks"]


@dataclass
class Grams:
    """Sufficient statistics of N samples Z_i in R^{C x S}, summed in float64.

    Attributes
    ----------
    channel : Tensor (C, C)
        The channel scatter sum_i Z_i Z_i^T (HOSVD initialisation of A).
    spatial : Tensor (S, S)
        The spatial Gram M = sum_i Z_i^T Z_i (with A A^T = I, Eq. 3 depends on the data
        only through it).
    energy : float
        sum_i ||Z_i||_F^2 = trace(M), the denominator of the relative objective.
    n_samples : int
    feature_shape : tuple (C, H, W)
    device, dtype
        Of the input batches (the fitted factors follow them).
    """

    channel: torch.Tensor
    spatial: torch.Tensor
    energy: float
    n_samples: int
    feature_shape: tuple[int, int, int]
    device: torch.device
    dtype: torch.dtype


#: samples per block product. A block's products are taken in the input's precision (at
#: least float32: BLAS's fast path, and on GPUs without fast float64 the only fast one) and
#: summed across blocks in float64. The sums then depend on how samples are grouped, at
#: float32 round-off (a relative ~1e-7 for 32 samples); cutting every input into the same
#: fixed blocks makes a streamed fit see exactly the groups an in-memory one sees.
BLOCK = 32


def _round_to_float32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).to(torch.float64)


def fixed_blocks(batches: Iterable[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """Re-cut batches (b, ...) of any sizes into consecutive blocks of exactly ``size`` samples (the last may be shorter)."""
    pending: list[torch.Tensor] = []
    held = 0
    for batch in batches:
        while batch.shape[0]:
            take = min(size - held, batch.shape[0])
            pending.append(batch[:take])
            held += take
            batch = batch[take:]
            if held == size:
                yield pending[0] if len(pending) == 1 else torch.cat(pending)
                pending, held = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else torch.cat(pending)


def as_product_block(block: torch.Tensor, device=None) -> torch.Tensor:
    """A block (b, C, H, W) as (b, C, S) in the precision its products are taken in: the input's, at least float32."""
    return block.to(device=device, dtype=torch.promote_types(block.dtype, torch.float32)).flatten(2)


def _local_gram_sums(source: FeatureSource, batch_size: int, verbose: bool | None):
    """This process's sums: (channel, spatial) float64 or None when it read no samples, n, device, dtype."""
    channel = spatial = None
    n = 0
    device = dtype = None
    batches = _progress(source.batches(batch_size), enabled=verbose, n_samples=source.n_samples, desc="Gram pass")
    for block in fixed_blocks(batches, BLOCK):
        if channel is None:
            device, dtype = block.device, block.dtype
            C, H, W = block.shape[1:]
            channel = torch.zeros((C, C), dtype=torch.float64, device=device)
            spatial = torch.zeros((H * W, H * W), dtype=torch.float64, device=device)
        z = as_product_block(block, device)  # (b, C, S)
        # one GEMM each over the block's fibres (far faster than a batched einsum)
        X = z.permute(1, 0, 2).reshape(z.shape[1], -1)  # (C, b*S): mode-C unfolding
        channel += (X @ X.T).to(torch.float64)
        Y = z.reshape(-1, z.shape[2])  # (b*C, S): the mode-S fibres as rows, no copy
        spatial += (Y.T @ Y).to(torch.float64)
        n += z.shape[0]
    return channel, spatial, n, device, dtype


def accumulate_grams(
    source: FeatureSource,
    *,
    batch_size: int = 256,
    verbose: bool | None = None,
    reduce: distributed.Reducer = distributed.LOCAL,
) -> Grams:
    """Accumulate :class:`Grams` in one pass; memory holds one batch and two small matrices.

    The products of each block of :data:`BLOCK` samples are taken in float32 (float64 for
    float64 input) and summed in float64, so the result does not depend on the batch sizes
    of a stream, and depends on the order of the samples only at float32 round-off.

    ``reduce`` completes the sums when ``source`` holds one rank's shard of the samples
    (:mod:`panda_viz.runtime.distributed`); the default, :data:`panda_viz.runtime.distributed.LOCAL`,
    takes them as they are.
    """
    meta = {}

    def compute():
        channel, spatial, n, meta["device"], meta["dtype"] = _local_gram_sums(source, batch_size, verbose)
        return channel, spatial, n

    channel, spatial, n = reduce.sum(compute, "Gram pass")
    device, dtype = meta["device"], meta["dtype"]
    assert channel is not None and spatial is not None  # FeatureSource refuses empty input
    # Rounded to float32's precision: GEMMs may round differently with the thread count
    # (~1e-16 in float64), which the non-convex parts solver would otherwise amplify into
    # visibly different parts; rounded, the matrices are almost always bit-identical.
    channel = _round_to_float32((channel + channel.T) / 2)
    spatial = _round_to_float32((spatial + spatial.T) / 2)
    return Grams(
        channel=channel,
        spatial=spatial,
        energy=float(torch.trace(spatial)),
        n_samples=int(n),
        feature_shape=tuple(int(s) for s in source.feature_shape),  # type: ignore[arg-type]
        device=device,  # type: ignore[arg-type]
        dtype=dtype,  # type: ignore[arg-type]
    )
