"""ReSeFa: the official compute_direction.py by default (exact-1/exact-0 masks, row-count scaling,
no regularisation); the paper's regularised variant and soft masks as options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz.baselines import (
    apply_direction,
    generalized_eigh,
    image_jacobians,
    region_grams,
    resefa,
)
from panda_viz.exceptions import InvalidInputError, InvalidTypeError
from panda_viz.metrics import roir
from panda_viz.paper.regions import face_mask

# a hand-made Jacobian: 1 sample, 3 channels, 2×3 pixels, a 2-dim latent
MASK = torch.tensor([[1.0, 1.0, 0.5], [0.0, 0.0, 0.0]])  # 2 region pixels, 1 ignored, 3 background


def hand_jacobian() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randn(1, 3, 2, 3, 2, generator=g, dtype=torch.float64)


def official_compute_direction(J: np.ndarray, mask: np.ndarray, tao: float | None = None):
    """zhujiapeng/resefa compute_direction.py main(), for one [channel, H, W, d] Jacobian."""
    fi, bi = np.where(mask == 1), np.where((1 - mask) == 1)
    fore = J[:, fi[0], fi[1]].reshape(-1, J.shape[-1])
    back = J[:, bi[0], bi[1]].reshape(-1, J.shape[-1])
    M_fore = (1 / fore.shape[0]) * fore.T.dot(fore)
    M_back = (1 / back.shape[0]) * back.T.dot(back)
    if tao is not None:  # --full_rank
        M_back = M_back + tao * np.trace(M_back) * np.identity(M_back.shape[0])
    eig_val, eig_vec = np.linalg.eig(np.linalg.inv(M_back).dot(M_fore))
    order = np.argsort(-eig_val.real)
    return eig_val.real[order], eig_vec.real.T[order]


def test_binary_mask_takes_exact_ones_and_zeros_and_scales_by_row_counts():
    J = hand_jacobian()
    with pytest.warns(UserWarning, match=r"1 pixel\(s\) strictly between 0 and 1.*neither as region nor as background"):
        fg, bg, rows = region_grams(J, MASK)
    assert rows == [(6.0, 9.0)]  # 3 channels × 2 region pixels, 3 channels × 3 background pixels
    Jf = J[0][:, 0, :2].reshape(-1, 2)  # row 0, columns 0-1: the pixels equal to 1
    Jb = J[0][:, 1, :].reshape(-1, 2)  # row 1: the pixels equal to 0 (the 0.5 pixel is in neither)
    torch.testing.assert_close(fg, Jf.T @ Jf / 6)
    torch.testing.assert_close(bg, Jb.T @ Jb / 9)


def test_soft_mask_option_weights_the_rows():
    J = hand_jacobian()
    fg, bg, rows = region_grams(J, MASK, mask_mode="soft")
    m = MASK.double()[None, :, :, None]
    Jf, Jb = (m * J[0]).reshape(-1, 2), ((1 - m) * J[0]).reshape(-1, 2)
    assert rows == [(3 * 2.5, 3 * 3.5)]
    torch.testing.assert_close(fg, Jf.T @ Jf / 7.5)
    torch.testing.assert_close(bg, Jb.T @ Jb / 10.5)


@pytest.mark.parametrize("tao", [None, 1e-3, 0.5])
def test_eigenpairs_equal_the_official_code(tao):
    J = hand_jacobian()
    with pytest.warns(UserWarning):
        fg, bg, _ = region_grams(J, MASK)
    values, vectors, a = generalized_eigh(fg, bg, regularization=tao)
    official_values, official_vectors = official_compute_direction(J[0].numpy(), MASK.numpy(), tao)
    np.testing.assert_allclose(values.numpy(), official_values, rtol=1e-10)
    for ours, theirs in zip(vectors.numpy(), official_vectors):  # unit eigenvectors, up to sign
        assert abs(abs(ours @ theirs) - 1) < 1e-10
    assert a == (0.0 if tao is None else pytest.approx(tao * float(torch.trace(bg))))


def test_row_count_scaling_changes_scores_by_nb_over_nf_not_directions():
    J = hand_jacobian()
    Jf, Jb = J[0][:, 0, :2].reshape(-1, 2), J[0][:, 1, :].reshape(-1, 2)
    unscaled, u_vectors, _ = generalized_eigh(Jf.T @ Jf, Jb.T @ Jb)
    with pytest.warns(UserWarning):
        scaled, s_vectors, _ = generalized_eigh(*region_grams(J, MASK)[:2])
    torch.testing.assert_close(scaled, unscaled * 9 / 6)
    torch.testing.assert_close(s_vectors.abs(), u_vectors.abs())


def test_several_samples_average_each_samples_matrices():
    g = torch.Generator().manual_seed(4)
    J = torch.randn(2, 3, 2, 3, 2, generator=g, dtype=torch.float64)
    mask = torch.zeros(2, 2, 3)
    mask[0, 0, 0] = mask[1, :, 2] = 1  # 1 and 2 region pixels
    fg, bg, rows = region_grams(J, mask)
    assert rows == [(3.0, 15.0), (6.0, 12.0)]
    single = [region_grams(J[i : i + 1], mask[i]) for i in range(2)]
    torch.testing.assert_close(fg, (single[0][0] + single[1][0]) / 2)
    torch.testing.assert_close(bg, (single[0][1] + single[1][1]) / 2)


def test_singular_background_needs_the_regularised_variant():
    fg = torch.eye(3, dtype=torch.float64)
    Jb = torch.tensor([[1.0, 2.0, 0.0]], dtype=torch.float64)  # one background row: rank 1 of 3
    with pytest.raises(InvalidInputError, match=r"singular \(rank 1 of 3.*pass regularization= \(the paper's 1e-3\)"):
        generalized_eigh(fg, Jb.T @ Jb)
    values, _, a = generalized_eigh(fg, Jb.T @ Jb, regularization=1e-3)
    assert a == pytest.approx(5e-3) and torch.isfinite(values).all()


def test_woodbury_matches_a_dense_solve():
    """The regularised eigenvalues equal those of the dense (bg + aI)^-1 fg, low-rank bg included."""
    g = torch.Generator().manual_seed(0)
    Jf = torch.randn(40, 12, generator=g, dtype=torch.float64)
    Jb = torch.randn(5, 12, generator=g, dtype=torch.float64)  # rank 5 < 12: singular bg
    fg, bg = Jf.T @ Jf, Jb.T @ Jb
    values, vectors, a = generalized_eigh(fg, bg, regularization=1e-3)
    dense = torch.linalg.eigvals(torch.linalg.solve(bg + a * torch.eye(12, dtype=torch.float64), fg)).real
    torch.testing.assert_close(values, dense.sort(descending=True).values, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- the real generator
@pytest.fixture(scope="module")
def latents(dcgan):
    return dcgan.sample_latents(3, seed=2)


@pytest.fixture(scope="module")
def jacobians(dcgan, latents):
    return image_jacobians(dcgan, latents, batch_size=3)


@pytest.fixture(scope="module")
def mouth():
    return (face_mask("mouth") >= 0.5).float()  # a binary box


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


def test_default_solves_the_unregularised_generalized_eigenproblem(dcgan, latents, jacobians, mouth):
    result = resefa(dcgan, latents, mouth, k=10, jacobians=jacobians)
    fg, bg = result.info["fg"], result.info["bg"]
    assert result.info["a"] == 0.0 and result.info["regularization"] is None and result.info["mask_mode"] == "binary"
    n_region = int(mouth.sum())
    assert result.info["rows"] == [(3.0 * n_region, 3.0 * (64 * 64 - n_region))] * 3
    N = result.directions.flatten(1).double()
    torch.testing.assert_close(N.norm(dim=1), torch.ones(10, dtype=torch.float64), atol=1e-6, rtol=0)
    for n, lam in zip(N, result.scores.double()):
        lhs, rhs = fg @ n, lam * (bg @ n)
        assert (lhs - rhs).norm() <= 1e-4 * lhs.norm()
    assert (result.scores[:-1] >= result.scores[1:]).all()
    regularised = resefa(dcgan, latents, mouth, k=10, regularization=1e-3, jacobians=jacobians)
    assert regularised.info["a"] == pytest.approx(1e-3 * float(torch.trace(bg)))
    assert (regularised.scores < result.scores).all()  # a larger denominator


def test_top_direction_is_more_local_than_the_worst(dcgan, latents, jacobians, mouth):
    result = resefa(dcgan, latents, mouth, jacobians=jacobians)
    x = dcgan.synthesize(latents)
    best = roir(x, dcgan.synthesize(apply_direction(latents, result[0], 0.5)), mouth).mean
    worst = roir(x, dcgan.synthesize(apply_direction(latents, result[-1], 0.5)), mouth).mean
    assert best < worst


def test_bad_input(dcgan, latents, jacobians):
    with pytest.raises(ValueError, match=r"mask of shape \(64, 64\)"):
        resefa(dcgan, latents, torch.ones(32, 32), jacobians=jacobians)
    with pytest.raises(ValueError, match="mask is empty: no pixel is exactly 1.*mask_mode='soft'"):
        resefa(dcgan, latents, 0.9 * face_mask("eyes"), jacobians=jacobians)
    with pytest.raises(ValueError, match="mask is empty"):
        resefa(dcgan, latents, torch.zeros(64, 64), mask_mode="soft", jacobians=jacobians)
    with pytest.raises(ValueError, match="covers the whole image"):
        resefa(dcgan, latents, torch.ones(64, 64), jacobians=jacobians)
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        resefa(dcgan, latents, 2 * face_mask("eyes"), jacobians=jacobians)
    with pytest.raises(ValueError, match=r"latents of shape \(N, 100, 1, 1\) expected"):
        resefa(dcgan, torch.ones(2, 99), face_mask("eyes"))
    with pytest.raises(InvalidInputError, match=r"regularization τ \(None, the official default, or the paper's 1e-3\) must be a number in \(0.0, inf\]"):
        resefa(dcgan, latents, face_mask("eyes"), regularization=0, jacobians=jacobians)
    with pytest.raises(InvalidInputError, match="Invalid mask_mode: got 'weighted'"):
        resefa(dcgan, latents, face_mask("eyes"), mask_mode="weighted", jacobians=jacobians)
    with pytest.raises(InvalidInputError, match=r"jacobians of shape \(3, 3, H, W, 100\) expected"):
        resefa(dcgan, latents, face_mask("eyes"), jacobians=jacobians[:2])


def test_image_jacobians_on_a_generator_not_yet_profiled():
    """The generator's shapes are learnt before the vmap (profiling draws random latents, which
    torch.func.vmap refuses)."""
    G = panda_viz.load_generator("dcgan-digiface")
    jac = image_jacobians(G, G.sample_latents(1, seed=0), fused_channel=True)
    assert jac.shape == (1, 1, 64, 64, 100)


def test_image_jacobian_options_are_checked_first(dcgan, latents):
    with pytest.raises(InvalidInputError, match=r"basis of shape \(d', 100, 1, 1\) expected; got \(3, 99\)"):
        image_jacobians(dcgan, latents, basis=torch.zeros(3, 99))
    with pytest.raises(InvalidInputError, match=r"image_jacobians: image_size \(the official 256\) must be an int in \[1, inf\]"):
        image_jacobians(dcgan, latents, image_size=0)
    with pytest.raises(InvalidTypeError, match=r"image_jacobians: fused_channel must be True or False"):
        image_jacobians(dcgan, latents, fused_channel=1)
    with pytest.raises(InvalidInputError, match=r"image_jacobians: batch_size must be an int in \[1, inf\]"):
        image_jacobians(dcgan, latents, batch_size=0)
