"""Initialisation: mode-n unfolding and HOSVD (Sec. 3.4 of the PandA paper).

``unfold`` and ``hosvd`` are public teaching helpers for the separable model
Z_i = A Lambda_i P^T: stack N samples' mode-3 unfolded feature maps into a (C, S, N)
tensor, and the leading left singular vectors of its mode-0 unfolding are the HOSVD
appearance basis that PandA starts from.
"""

from __future__ import annotations

import torch

__all__ = ["unfold", "fold", "hosvd", "channel_basis", "random_parts", "initial_appearances"]


def unfold(tensor: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-``mode`` unfolding: the mode-``mode`` fibres as columns, shape (I_mode, prod of the rest).

    Follows Kolda & Bader's definition up to the column order (the remaining modes keep
    their order, C-contiguously, as TensorLy's ``unfold``).

    Parameters
    ----------
    tensor : Tensor (I_0, ..., I_{d-1})
    mode : int
        In ``range(-d, d)``.

    Examples
    --------
    >>> X = torch.arange(24.).reshape(2, 3, 4)
    >>> unfold(X, 1).shape
    torch.Size([3, 8])
    """
    if not isinstance(tensor, torch.Tensor) or tensor.ndim < 1:
        raise ValueError(f"unfold needs a tensor with at least one mode; got {type(tensor).__name__}")
    if not -tensor.ndim <= mode < tensor.ndim:
        raise ValueError(f"mode must be in [{-tensor.ndim}, {tensor.ndim - 1}] for a {tensor.ndim}-D tensor; got {mode}")
    return torch.movedim(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def fold(matrix: torch.Tensor, mode: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`unfold`: ``fold(unfold(X, m), m, X.shape) == X``."""
    shape = tuple(shape)
    moved = (shape[mode], *shape[:mode], *shape[mode + 1 :])
    if matrix.shape != (shape[mode], matrix.shape[1]) or matrix.numel() != torch.Size(shape).numel():
        raise ValueError(f"cannot fold a matrix of shape {tuple(matrix.shape)} into {shape} along mode {mode}")
    return torch.movedim(matrix.reshape(moved), 0, mode)


def hosvd(tensor: torch.Tensor, ranks: tuple[int | None, ...] | None = None):
    """Truncated higher-order SVD: factors U_n (leading left singular vectors of each unfolding) and the core.

    Parameters
    ----------
    tensor : Tensor (I_0, ..., I_{d-1})
        E.g. the (C, S, N) tensor of N samples' mode-3 unfolded feature maps.
    ranks : tuple, optional
        Rank per mode (``None`` for a mode keeps it whole).

    Returns
    -------
    core : Tensor (R_0, ..., R_{d-1})
        ``tensor`` multiplied by U_n^T along every mode.
    factors : list of Tensor (I_n, R_n)
        Orthonormal columns, by decreasing singular value. With ``ranks`` full,
        multiplying ``core`` back by every U_n gives ``tensor``.
    """
    if ranks is None:
        ranks = (None,) * tensor.ndim
    if len(ranks) != tensor.ndim:
        raise ValueError(f"ranks must give one entry per mode ({tensor.ndim}); got {len(ranks)}")
    factors = []
    core = tensor
    for mode, rank in enumerate(ranks):
        U, _, _ = torch.linalg.svd(unfold(tensor, mode), full_matrices=False)
        rank = U.shape[1] if rank is None else int(rank)
        if not 1 <= rank <= tensor.shape[mode]:
            raise ValueError(f"rank of mode {mode} must be in [1, {tensor.shape[mode]}]; got {rank}")
        U = U[:, :rank]
        factors.append(U)
        moved = torch.movedim(core, mode, -1) @ U
        core = torch.movedim(moved, -1, mode)
    return core, factors


def channel_basis(scatter: torch.Tensor, rank: int) -> torch.Tensor:
    """The HOSVD appearance basis: the ``rank`` leading eigenvectors of the channel scatter.

    The scatter sum_i Z_i Z_i^T is Z_(2) Z_(2)^T of Algorithm 1; its eigenvectors are the
    left singular vectors of Z_(2). Signs are fixed so each vector's largest entry is
    positive (deterministic across platforms).
    """
    values, vectors = torch.linalg.eigh(scatter)
    order = torch.argsort(values, descending=True)[:rank]
    U = vectors[:, order]
    peak = U.gather(0, U.abs().argmax(dim=0, keepdim=True))
    return U * torch.where(peak < 0, -1.0, 1.0).to(U.dtype)


def random_parts(n_restarts: int, S: int, n_parts: int, *, generator: torch.Generator, dtype=torch.float64, device=None):
    """P ~ U(0, 0.01) as in Algorithm 1, ``n_restarts`` draws stacked: (n_restarts, S, n_parts)."""
    P = torch.rand((n_restarts, S, n_parts), generator=generator, dtype=torch.float64) * 0.01
    return P.to(device=device, dtype=dtype)


def initial_appearances(grams, rank: int, init: str, rng: torch.Generator) -> torch.Tensor:
    """A's starting point, (C, rank) float64 on the Grams' device: the HOSVD basis or a random orthonormal one.

    Parameters
    ----------
    grams : :class:`~._grams.Grams`
        Its channel scatter gives the HOSVD basis (``init="hosvd"``, Sec. 3.4).
    rank : int
        R_C.
    init : {'hosvd', 'random'}
    rng : torch.Generator
        Draws the random basis (not touched by ``"hosvd"``).
    """
    if init == "hosvd":
        return channel_basis(grams.channel, rank)
    C = grams.channel.shape[0]
    Q, _ = torch.linalg.qr(torch.randn((C, rank), generator=rng, dtype=torch.float64))
    return Q.to(grams.channel.device)
