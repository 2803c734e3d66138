"""One streaming pass over the feature maps: the Gram matrices every solver starts from."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._progress import progress as _progress
from ._validation import FeatureSource

__all__ = ["Grams", "accumulate_grams"]


@dataclass
class Grams:
    """Sufficient statistics of N samples Z_i in R^{C x S}, accumulated in float64.

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


def _round_to_float32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).to(torch.float64)


def accumulate_grams(source: FeatureSource, *, batch_size: int = 256, verbose: bool | None = None) -> Grams:
    """Accumulate :class:`Grams` in one pass; memory holds one batch and two small matrices.

    Each batch is cast to float64 before its products are taken, so the sums agree
    whatever the batch order or size, up to float64 round-off.
    """
    channel = spatial = None
    n = 0
    device = dtype = None
    batches = _progress(source.batches(batch_size), enabled=verbose, n_samples=source.n_samples, desc="Gram pass")
    for batch in batches:
        if channel is None:
            device, dtype = batch.device, batch.dtype
            C, H, W = batch.shape[1:]
            channel = torch.zeros((C, C), dtype=torch.float64, device=device)
            spatial = torch.zeros((H * W, H * W), dtype=torch.float64, device=device)
        z = batch.to(device=device, dtype=torch.float64).flatten(2)  # (b, C, S)
        # one GEMM each over the batch's fibres (far faster than a batched einsum)
        X = z.permute(1, 0, 2).reshape(z.shape[1], -1)  # (C, b*S): mode-C unfolding
        channel += X @ X.T
        Y = z.permute(2, 0, 1).reshape(z.shape[2], -1)  # (S, b*C)
        spatial += Y @ Y.T
        n += z.shape[0]
    assert channel is not None and spatial is not None  # FeatureSource refuses empty input
    # Rounded to float32's precision (a relative 6e-8, far below any solver tolerance): the
    # float64 sums differ with the batch size and order by ~1e-16, which the non-convex
    # parts solver would otherwise amplify into visibly different parts (streamed vs
    # in-memory fits); rounded, the matrices are almost always bit-identical.
    channel = _round_to_float32((channel + channel.T) / 2)
    spatial = _round_to_float32((spatial + spatial.T) / 2)
    return Grams(
        channel=channel,
        spatial=spatial,
        energy=float(torch.trace(spatial)),
        n_samples=n,
        feature_shape=tuple(int(s) for s in source.feature_shape),  # type: ignore[arg-type]
        device=device,  # type: ignore[arg-type]
        dtype=dtype,  # type: ignore[arg-type]
    )
