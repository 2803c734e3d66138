"""Fig. 8's ablations: MPCA (3rd-order and mode-3 unfolding) and PandA's objective without P >= 0."""

from __future__ import annotations

import pytest
import torch

from panda_viz.decomposition import PandA
from panda_viz.decomposition.ablations import mpca, unconstrained_panda


def _orthonormal(U: torch.Tensor) -> bool:
    return torch.allclose(U.T @ U, torch.eye(U.shape[1], dtype=U.dtype), atol=1e-5)


def test_mpca_full_ranks_keep_everything():
    Z = torch.randn(10, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    result = mpca(Z, (3, 4, 5))
    assert result.captured == pytest.approx(1.0)
    assert all(_orthonormal(U) for U in result.factors)
    assert torch.allclose(result.mean, Z.mean(0))


def test_mpca_recovers_a_planted_multilinear_subspace():
    """Samples that live in span(U_1) x span(U_2) x span(U_3) are captured exactly at those ranks."""
    g = torch.Generator().manual_seed(1)
    U = [torch.linalg.qr(torch.randn(n, r, generator=g, dtype=torch.float64))[0] for n, r in ((6, 2), (5, 2), (4, 3))]
    core = torch.randn(30, 2, 2, 3, generator=g, dtype=torch.float64)
    Z = torch.einsum("nabc,ia,jb,kc->nijk", core, *U)
    result = mpca(Z, (2, 2, 3), center=False)
    assert result.captured == pytest.approx(1.0, abs=1e-10)
    for found, planted in zip(result.factors, U):
        assert torch.allclose(found @ found.T, planted @ planted.T, atol=1e-8)  # same subspace


def test_mpca_alternation_never_loses_scatter_and_beats_truncation():
    g = torch.Generator().manual_seed(2)
    Z = torch.randn(40, 6, 5, 4, generator=g, dtype=torch.float64) * torch.linspace(3, 0.5, 4, dtype=torch.float64)
    one = mpca(Z, (3, 2, 2), max_iter=1)
    many = mpca(Z, (3, 2, 2), max_iter=20)
    assert many.captured >= one.captured - 1e-12
    assert 0 < many.captured < 1


def test_mpca_spatial_maps_shapes(dcgan, dcgan_latents):
    Z = dcgan.features(dcgan_latents, "main.5")  # (6, 256, 8, 8)
    third = mpca(Z, (16, 3, 3), max_iter=3)
    assert third.spatial_maps().shape == (9, 8, 8)
    # a 3rd-order part is an outer product: rank one as an 8 x 8 matrix
    assert torch.linalg.matrix_rank(third.spatial_maps()[4].double(), atol=1e-5) == 1
    unfolded = mpca(Z.flatten(2), (16, 8), max_iter=3)
    assert unfolded.spatial_maps().shape == (8, 64)
    assert _orthonormal(unfolded.factors[1])


@pytest.mark.parametrize(
    ("Z", "ranks", "match"),
    [
        (torch.zeros(3, 4), (2,), r"Z of shape \(N, I_1, ..., I_d\) with d >= 2 expected; got \(3, 4\)"),
        (torch.zeros(3, 4, 5), (2,), r"ranks must give one rank per sample mode \(4, 5\); got \(2,\)"),
        (torch.zeros(3, 4, 5), (5, 2), r"rank of mode 0 must be an int in \[1, 4\]; got 5"),
        (torch.zeros(3, 4, 5), (2, 0), r"rank of mode 1 must be an int in \[1, 5\]; got 0"),
    ],
)
def test_mpca_validation(Z, ranks, match):
    with pytest.raises(ValueError, match=match):
        mpca(Z, ranks)


def test_unconstrained_descends_and_goes_negative(dcgan):
    Z = dcgan.features(dcgan.sample_latents(32, seed=0), "main.5")
    result = unconstrained_panda(Z, 4, max_iter=150, learning_rate=1e-2)
    assert result.parts.shape == (4, 8, 8) and result.appearances.shape == (256, 256)
    assert result.loss_history[-1] < result.loss_history[0]
    assert result.objective == pytest.approx(result.loss_history[-1], rel=0.05)
    assert (result.parts < 0).any(), "without the constraint some part entries are negative"
    # the same objective PandA scores, on the same features
    model = PandA(n_parts=4)
    model.parts_, model.appearances_ = result.parts, result.appearances
    model.feature_shape_ = tuple(Z.shape[1:])
    assert model.score(Z) == pytest.approx(result.objective, rel=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_parts": 0}, r"n_parts \(at most H·W\) must be an int in \[1, 64\]; got 0"),
        ({"n_parts": 65}, r"got 65"),
        ({"n_parts": 2, "max_iter": 0}, r"max_iter must be an int in \[1, inf\]; got 0"),
    ],
)
def test_unconstrained_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unconstrained_panda(torch.zeros(2, 3, 8, 8), **kwargs)
    with pytest.raises(ValueError, match=r"Z of shape \(N, C, H, W\) expected; got \(3, 8, 8\)"):
        unconstrained_panda(torch.zeros(3, 8, 8), 2)
