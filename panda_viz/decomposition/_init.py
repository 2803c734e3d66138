"""Initialisation (Sec. 3.4 of the PandA paper): the HOSVD appearance basis and random parts.

The leading left singular vectors of the channel unfolding of the (C, S, N) feature
tensor (the eigenvectors of the channel scatter sum_i Z_i Z_i^T) are the appearance basis
PandA starts from; the unfoldings and the HOSVD themselves are in
:mod:`panda_viz.decomposition.tensor`.
"""

from __future__ import annotations

import torch

__all__ = ["channel_basis", "random_parts", "initial_appearances"]


def channel_basis(scatter: torch.Tensor, n_vectors: int) -> torch.Tensor:
    """The HOSVD appearance basis: the ``n_vectors`` leading eigenvectors of the channel scatter, (C, n_vectors).

    The scatter sum_i Z_i Z_i^T is Z_(2) Z_(2)^T of Algorithm 1; its eigenvectors are the
    left singular vectors of Z_(2). Signs are fixed so each vector's largest entry is
    positive (deterministic across platforms).
    """
    values, vectors = torch.linalg.eigh(scatter)
    order = torch.argsort(values, descending=True)[:n_vectors]
    U = vectors[:, order]
    peak = U.gather(0, U.abs().argmax(dim=0, keepdim=True))
    return U * torch.where(peak < 0, -1.0, 1.0).to(U.dtype)


def random_parts(n_restarts: int, S: int, n_parts: int, *, rng: torch.Generator, dtype=torch.float64, device=None):
    """P ~ U(0, 0.01) as in Algorithm 1, ``n_restarts`` draws stacked: (n_restarts, S, n_parts)."""
    P = torch.rand((n_restarts, S, n_parts), generator=rng, dtype=torch.float64) * 0.01
    return P.to(device=device, dtype=dtype)


def initial_appearances(grams, n_appearances: int, init: str, rng: torch.Generator) -> torch.Tensor:
    """A's starting point, (C, n_appearances) float64 on the Grams' device: the HOSVD basis or a random orthonormal one.

    Parameters
    ----------
    grams : :class:`~._grams.Grams`
        Its channel scatter gives the HOSVD basis (``init="hosvd"``, Sec. 3.4).
    n_appearances : int
        R_C.
    init : {'hosvd', 'random'}
    rng : torch.Generator
        Draws the random basis (not touched by ``"hosvd"``).
    """
    if init == "hosvd":
        return channel_basis(grams.channel, n_appearances)
    C = grams.channel.shape[0]
    Q, _ = torch.linalg.qr(torch.randn((C, n_appearances), generator=rng, dtype=torch.float64))
    return Q.to(grams.channel.device)
