"""Small feature maps for the solver tests: planted PandA factors, and real DCGAN features."""

from __future__ import annotations

import pytest
import torch


def planted(n=40, C=6, H=4, W=4, n_parts=3, noise=0.0, seed=0):
    """Z_i = A Lambda_i P^T with disjoint non-negative parts, orthonormal A; returns Z, A, P (S, K)."""
    g = torch.Generator().manual_seed(seed)
    S = H * W
    P = torch.zeros(S, n_parts, dtype=torch.float64)
    blocks = torch.arange(S).chunk(n_parts)
    for k, idx in enumerate(blocks):
        P[idx, k] = torch.rand(len(idx), generator=g, dtype=torch.float64) + 0.5
    P = P / P.norm(dim=0, keepdim=True)
    A, _ = torch.linalg.qr(torch.randn(C, C, generator=g, dtype=torch.float64))
    Lam = torch.randn(n, C, n_parts, generator=g, dtype=torch.float64)
    Z = A @ Lam @ P.T + noise * torch.randn(n, C, S, generator=g, dtype=torch.float64)
    return Z.reshape(n, C, H, W).float(), A, P


@pytest.fixture(scope="module")
def planted_data():
    return planted()


@pytest.fixture(scope="module")
def small_Z():
    """Noisy planted data: a generic problem (no exact solution)."""
    return planted(n=30, C=5, H=3, W=4, n_parts=3, noise=0.3, seed=1)[0]


@pytest.fixture(scope="session")
def dcgan_main5(dcgan):
    """Real features: 64 samples of the embedded DCGAN at main.5 (256 x 8 x 8)."""
    return dcgan.features(dcgan.sample_latents(64, seed=0), "main.5")
