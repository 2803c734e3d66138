"""Appearance steps: the exact eigen step for orthonormal A (R_C < C) and the free basis.

Both alternate with the parts step of :mod:`._projective`; each step is an exact
minimisation of Eq. 3 in one block, so the alternation never increases the objective.

* Orthonormal A (A^T A = I), P fixed: Eq. 3 equals E - tr(A^T K A) with
  K = sum_i Z_i (2Q - Q^2) Z_i^T, Q = P P^T: A = the R_C leading eigenvectors of K.
* Free A (W = A A^T any PSD matrix, as in Algorithm 1), P fixed: Eq. 3 is the convex
  quadratic tr(W Cm W) - 2 tr(W B) + E in symmetric W, with B = sum_i Z_i Q Z_i^T and
  Cm = sum_i Z_i Q^2 Z_i^T; its minimiser solves the Lyapunov equation W Cm + Cm W = 2B,
  in the eigenbasis of Cm: W_jk = 2 B_jk / (l_j + l_k). With Cm positive definite and
  B PSD that solution is PSD, so A = V diag(sqrt(w)) exists. For R_C < C the free basis is
  W = U W~ U^T within the span of the orthonormal solution U, and W~ solves the same
  equation projected onto U.
"""

from __future__ import annotations

import torch

from ..runtime import distributed
from ._grams import BLOCK, as_product_block, fixed_blocks
from ._validation import FeatureSource

__all__ = ["pass_parts_statistics", "pass_appearance_grams", "lyapunov_step", "eigen_step"]


def _blocks(source: FeatureSource, device, chunk: int):
    """The source's samples in the Gram pass's fixed blocks, each (b, C, S) in its product precision."""
    for block in fixed_blocks(source.batches(chunk), BLOCK):
        yield as_product_block(block, device)


def pass_parts_statistics(
    source: FeatureSource, P: torch.Tensor, *, chunk: int = 256, reduce: distributed.Reducer = distributed.LOCAL
):
    """One pass: B = sum_i Y_i Y_i^T and Cm = sum_i Y_i G Y_i^T with Y_i = Z_i P, G = P^T P (C x C each).

    As the Gram pass: Z_i P in the input's precision (at least float32) per block of
    :data:`~._grams.BLOCK` samples, everything after it in float64; ``reduce`` completes
    the sums of a source that holds one rank's shard.
    """

    def compute():
        B = Cm = None
        G = P.mT @ P
        for z in _blocks(source, P.device, chunk):
            Y = (z @ P.to(z.dtype)).to(torch.float64)  # (b, C, K)
            Yf = Y.permute(1, 0, 2).reshape(Y.shape[1], -1)  # (C, b*K)
            b = Yf @ Yf.T
            c = (Y @ G).permute(1, 0, 2).reshape(Y.shape[1], -1) @ Yf.T
            B = b if B is None else B + b
            Cm = c if Cm is None else Cm + c
        return B, Cm

    B, Cm = reduce.sum(compute, "parts statistics pass")
    return (B + B.T) / 2, (Cm + Cm.T) / 2


def pass_appearance_grams(
    source: FeatureSource,
    L: torch.Tensor,
    weights: torch.Tensor | None,
    *,
    chunk: int = 256,
    reduce: distributed.Reducer = distributed.LOCAL,
):
    """One pass: M1 = sum_i Z_i^T L L^T Z_i and M2 = sum_i Z_i^T L diag(w) L^T Z_i (S x S).

    With W = L diag(w)... the free basis passes L = V sqrt(w) and ``weights`` = w, so that
    M1 = sum Z^T W Z and M2 = sum Z^T W^2 Z; an orthonormal A passes L = A, weights None
    (then M2 = M1, returned as None). Products as in the Gram pass: per block of
    :data:`~._grams.BLOCK` samples in the input's precision (at least float32), summed in
    float64; ``reduce`` completes the sums of a source that holds one rank's shard.
    """
    root = None if weights is None else weights.clamp_min(0).sqrt()

    def compute():
        M1 = M2 = None
        for z in _blocks(source, L.device, chunk):
            Y = L.T.to(z.dtype) @ z  # (b, R, S)
            Yf = Y.reshape(-1, Y.shape[2])  # (b*R, S), no copy
            m1 = (Yf.T @ Yf).to(torch.float64)
            M1 = m1 if M1 is None else M1 + m1
            if root is not None:
                # Y^T diag(w) Y = (sqrt(w) Y)^T (sqrt(w) Y): a symmetric product like M1's
                Yw = (Y * root.to(z.dtype)[:, None]).reshape(-1, Y.shape[2])
                m2 = (Yw.T @ Yw).to(torch.float64)
                M2 = m2 if M2 is None else M2 + m2
        return M1, M2

    M1, M2 = reduce.sum(compute, "appearance Gram pass")
    M1 = (M1 + M1.T) / 2
    if M2 is not None:
        M2 = (M2 + M2.T) / 2
    return M1, M2


def eigen_step(K: torch.Tensor, n_appearances: int) -> torch.Tensor:
    """The ``n_appearances`` leading eigenvectors of symmetric K (C, n_appearances), signs fixed."""
    from ._init import channel_basis

    return channel_basis((K + K.T) / 2, n_appearances)


def lyapunov_step(B: torch.Tensor, Cm: torch.Tensor, U: torch.Tensor | None = None):
    """The free-basis W minimising tr(W Cm W) - 2 tr(W B), within span(U) when given.

    Returns
    -------
    L : Tensor (C, R)
        W = L L^T, columns ordered by decreasing norm (the appearance factors A).
    w : Tensor (R,)
        The eigenvalues of W (squared column norms of L).
    """
    if U is not None:
        B = U.T @ B @ U
        Cm = U.T @ Cm @ U
    lam, V = torch.linalg.eigh((Cm + Cm.T) / 2)
    floor = lam.abs().max() * 1e-12
    lam = lam.clamp_min(floor)
    Bt = V.T @ B @ V
    Wt = 2 * Bt / (lam[:, None] + lam[None, :])
    W = V @ Wt @ V.T
    W = (W + W.T) / 2
    w, E = torch.linalg.eigh(W)
    w = w.clamp_min(0)
    order = torch.argsort(w, descending=True)
    w, E = w[order], E[:, order]
    if U is not None:
        E = U @ E
    peak = E.gather(0, E.abs().argmax(dim=0, keepdim=True))
    E = E * torch.where(peak < 0, -1.0, 1.0).to(E.dtype)
    return E * torch.sqrt(w)[None, :], w
