"""ReSeFa: directions solve the regularised generalised eigenproblem; Jacobians are right."""

from __future__ import annotations

import pytest
import torch

from panda_viz.baselines import generalized_eigh, image_jacobians, resefa
from panda_viz.metrics import roir
from panda_viz.baselines import apply_direction
from panda_viz.paper.regions import face_mask


@pytest.fixture(scope="module")
def latents(dcgan):
    return dcgan.sample_latents(3, seed=2)


@pytest.fixture(scope="module")
def jacobians(dcgan, latents):
    return image_jacobians(dcgan, latents, batch_size=3)


def test_jacobian_matches_finite_differences(dcgan, latents, jacobians):
    assert jacobians.shape == (3, 3, 64, 64, 100)
    e = torch.zeros(100, dtype=torch.float64)
    e[7] = 1.0
    eps = 1e-5
    z = latents.double()
    dcgan.module.double()
    try:
        plus = dcgan.synthesize(z + eps * e.view(1, 100, 1, 1))
        minus = dcgan.synthesize(z - eps * e.view(1, 100, 1, 1))
    finally:
        dcgan.module.float()
    fd = ((plus - minus) / (2 * eps)).float()
    torch.testing.assert_close(jacobians[..., 7], fd, atol=2e-3, rtol=1e-2)


def test_generalized_eigen_equation(dcgan, latents, jacobians):
    mask = face_mask("mouth")
    result = resefa(dcgan, latents, mask, k=10, jacobians=jacobians)
    fg, bg, a = result.info["fg"], result.info["bg"], result.info["a"]
    assert a == pytest.approx(1e-3 * float(torch.trace(bg)))
    N = result.directions.flatten(1).double()
    torch.testing.assert_close(N.norm(dim=1), torch.ones(10, dtype=torch.float64), atol=1e-6, rtol=0)
    for n, lam in zip(N, result.scores.double()):
        lhs = fg @ n
        rhs = lam * (bg @ n + a * n)
        assert (lhs - rhs).norm() <= 1e-4 * lhs.norm()
    assert (result.scores[:-1] >= result.scores[1:]).all()


def test_woodbury_matches_a_dense_solve():
    """The generalised eigenvalues equal those of the dense (bg + aI)^-1 fg, low-rank bg included."""
    g = torch.Generator().manual_seed(0)
    Jf = torch.randn(40, 12, generator=g, dtype=torch.float64)
    Jb = torch.randn(5, 12, generator=g, dtype=torch.float64)  # rank 5 < 12: singular bg
    fg, bg = Jf.T @ Jf, Jb.T @ Jb
    values, vectors, a = generalized_eigh(fg, bg, lam=1e-3)
    dense = torch.linalg.eigvals(torch.linalg.solve(bg + a * torch.eye(12, dtype=torch.float64), fg)).real
    torch.testing.assert_close(values, dense.sort(descending=True).values, rtol=1e-6, atol=1e-8)


def test_top_direction_is_more_local_than_the_worst(dcgan, latents, jacobians):
    mask = face_mask("mouth")
    result = resefa(dcgan, latents, mask, jacobians=jacobians)
    x = dcgan.synthesize(latents)
    best = roir(x, dcgan.synthesize(apply_direction(latents, result[0], 0.5)), mask).mean
    worst = roir(x, dcgan.synthesize(apply_direction(latents, result[-1], 0.5)), mask).mean
    assert best < worst


def test_bad_input(dcgan, latents, jacobians):
    with pytest.raises(ValueError, match=r"mask of shape \(64, 64\)"):
        resefa(dcgan, latents, torch.ones(32, 32), jacobians=jacobians)
    with pytest.raises(ValueError, match="mask is empty"):
        resefa(dcgan, latents, torch.zeros(64, 64), jacobians=jacobians)
    with pytest.raises(ValueError, match="covers the whole image"):
        resefa(dcgan, latents, torch.ones(64, 64), jacobians=jacobians)
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        resefa(dcgan, latents, 2 * face_mask("eyes"), jacobians=jacobians)
    with pytest.raises(ValueError, match=r"latents of shape \(N, 100, 1, 1\) expected"):
        resefa(dcgan, torch.ones(2, 99), face_mask("eyes"))
    with pytest.raises(ValueError, match="lam must be a positive number"):
        resefa(dcgan, latents, face_mask("eyes"), lam=0, jacobians=jacobians)
