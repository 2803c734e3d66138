"""LowRankGAN: the official compute_jacobian.py, compute_directions.py and RobustPCA.py by default
(each pinned to a numpy transcription of the official code on hand-made cases), the eigh solver equal
to the official SVD iteration, the official layer-wise edit, and the official direction files."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import torch

from panda_viz.baselines import (
    apply_direction,
    image_jacobians,
    load_directions,
    lowrankgan,
    lowrankgan_jacobians,
    region_grams,
    robust_pca,
)
from panda_viz.baselines.lowrankgan import (
    EDIT_DISTANCES,
    EDIT_LAYERS,
    lowrank_directions,
)
from panda_viz.baselines.resefa import nearest_indices
from panda_viz.exceptions import (
    ConvergenceWarning,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    UnsafeFileError,
)
from panda_viz.generators.inverted import Inversion
from panda_viz.paper.regions import face_mask

# the module (the package's `lowrankgan` is the function)
lowrankgan_module = importlib.import_module("panda_viz.baselines.lowrankgan")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Robust PCA makes hundreds of small LAPACK calls; on a machine shared with other jobs, two
    torch threads make each of them many times slower (benchmarks/README.md), so this module runs
    on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- the official code, in numpy
def official_robust_pca(M: np.ndarray, lamb: float | None = 1 / 60, max_iter: int = 10000):
    """zhujiapeng/LowRankGAN RobustPCA.py: RobustPCA(M, lamb).fit(max_iter) -> L, S, and the iterations run."""
    S, L, Lamb = np.zeros(M.shape), np.zeros(M.shape), np.zeros(M.shape)
    mu = np.prod(M.shape) / (4 * np.linalg.norm(M, ord=1))
    mu_inv = 1 / mu
    error = 1e-7 * np.linalg.norm(M, ord="fro")
    lamb = lamb if lamb else 1 / np.sqrt(np.max(M.shape))

    def shrink(X, tau):
        return np.sign(X) * np.maximum((np.abs(X) - tau), np.zeros(X.shape))

    def svd_threshold(X, tau):
        U, s, VH = np.linalg.svd(X, full_matrices=False)
        return np.dot(U, np.dot(np.diag(shrink(s, tau)), VH))

    n_iter, err = 0, np.inf
    while err > error and n_iter < max_iter:
        L = svd_threshold(M - S - mu_inv * Lamb, mu_inv)
        S = shrink(M - L - mu_inv * Lamb, mu_inv * lamb)
        Lamb = Lamb + mu * (L + S - M)
        err = np.linalg.norm(L + S - M, ord="fro")
        n_iter += 1
    return L, S, n_iter, mu


def official_compute_directions(Jacobian: np.ndarray, mask: np.ndarray, lamb: int = 60, max_iter: int = 10000,
                                num_relax: int = 0):
    """compute_directions.py main() for one fused-channel Jacobian [H, W, 1, latent_dim].

    (The official line ``w_dim = Jacobians[-1]`` means the latent width, ``shape[-1]``.)
    """
    w_dim = Jacobian.shape[-1]
    foreground_ind = np.where(mask == 1)
    background_ind = np.where((1 - mask) == 1)
    Jaco_fore = np.reshape(Jacobian[foreground_ind[0], foreground_ind[1], 0], [-1, w_dim])
    Jaco_back = np.reshape(Jacobian[background_ind[0], background_ind[1], 0], [-1, w_dim])
    M_fore = (1 / Jaco_fore.shape[0]) * Jaco_fore.T.dot(Jaco_fore)
    B_back = (1 / Jaco_back.shape[0]) * Jaco_back.T.dot(Jaco_back)
    L_f, _, it_f, _ = official_robust_pca(M_fore, lamb=1 / lamb, max_iter=max_iter)
    rank_f = np.linalg.matrix_rank(L_f)
    L_b, _, it_b, _ = official_robust_pca(B_back, lamb=1 / lamb, max_iter=max_iter)
    rank_b = np.linalg.matrix_rank(L_b)
    _, _, VHf = np.linalg.svd(L_f)
    _, _, VHb = np.linalg.svd(L_b)
    F_principal = VHf[:rank_f]
    relax_subspace = min(max(1, rank_b - num_relax), w_dim - 1)
    B_null = VHb[relax_subspace:].T
    F_principal_proj = B_null.dot(B_null.T).dot(F_principal.T).T
    F_principal_proj /= np.linalg.norm(F_principal_proj, axis=1, keepdims=True)
    return F_principal, F_principal_proj, rank_f, rank_b, (it_f, it_b)


def official_manipulate_codes(latent_code, boundary, layer_index, start_distance=-4.0, end_distance=4.0, steps=7):
    """utils/editor.py manipulate_codes."""
    linspace = np.linspace(start_distance, end_distance, steps).reshape([-1, 1, 1]).astype(np.float32)
    inter_code = linspace * boundary
    is_manipulatable = np.zeros(inter_code.shape, dtype=bool)
    is_manipulatable[:, layer_index, :] = True
    return np.where(is_manipulatable, latent_code + inter_code, latent_code)


def assert_same_rows_up_to_sign(ours: torch.Tensor, theirs: np.ndarray, tol: float = 1e-9) -> None:
    ours = ours.reshape(len(ours), -1).double().numpy()
    assert ours.shape == theirs.shape
    for a, b in zip(ours, theirs):
        assert abs(abs(a @ b) - 1) < tol


# ----------------------------------------------------------------------------- hand-made cases
def hand_jacobian(seed: int, d: int = 32, h: int = 10, w: int = 12):
    """A fused-channel Jacobian (1, 1, h, w, d): region rows in a 3-dim subspace, background rows in
    a 2-dim one overlapping it, plus noise; the mask has one pixel of 0.5 (in neither)."""
    g = np.random.default_rng(seed)
    mask = np.zeros((h, w))
    mask[2:6, 3:9] = 1
    mask[0, 0] = 0.5
    a = np.linalg.qr(g.standard_normal((d, 4)))[0]
    J = 0.02 * g.standard_normal((h, w, d))
    for i, j in zip(*np.where(mask == 1)):
        J[i, j] += sum(2 * g.standard_normal() * a[:, k] for k in range(3))
    for i, j in zip(*np.where(mask == 0)):
        J[i, j] += 2 * g.standard_normal() * (0.6 * a[:, 0] + 0.8 * a[:, 3]) + 2 * g.standard_normal() * a[:, 2]
    return torch.from_numpy(J)[None, None], torch.from_numpy(mask)


def planted(d: int = 40, seed: int = 1):
    """A rank-2 PSD matrix plus a symmetric ±0.5 matrix on 5% of the entries."""
    g = np.random.default_rng(seed)
    U = np.linalg.qr(g.standard_normal((d, 2)))[0]
    L0 = U @ np.diag([3.0, 2.0]) @ U.T * d / 10
    S0 = np.zeros((d, d))
    idx = g.choice(d * d, d * d // 20, replace=False)
    S0.flat[idx] = g.choice([-1, 1], len(idx)) * 0.5
    S0 = np.triu(S0)
    S0 = S0 + np.triu(S0, 1).T
    return L0, S0


# ----------------------------------------------------------------------------- Robust PCA
@pytest.mark.parametrize("solver", ["eigh", "svd"])
def test_robust_pca_recovers_a_planted_low_rank_plus_sparse_matrix(solver):
    L0, S0 = planted()
    L, S, n_iter, _ = official_robust_pca(L0 + S0, lamb=None)  # the official class's λ = 1/√d
    result = robust_pca(L0 + S0, lam=None, solver=solver)
    assert result.converged and result.n_iter == n_iter
    assert result.lam == pytest.approx(1 / np.sqrt(40))
    np.testing.assert_allclose(result.low_rank.numpy(), L, atol=1e-10)
    np.testing.assert_allclose(result.sparse.numpy(), S, atol=1e-10)
    np.testing.assert_allclose(result.low_rank.numpy(), L0, atol=1e-5)  # what Robust PCA is for
    np.testing.assert_allclose(result.sparse.numpy(), S0, atol=1e-5)
    assert torch.linalg.matrix_rank(result.low_rank) == 2


@pytest.mark.parametrize("seed", [3])
def test_robust_pca_defaults_equal_the_official_code(seed):
    """λ = 1/60, μ = d²/(4‖M‖₁), tolerance 1e-7‖M‖_F: the same iterations, L and S as RobustPCA.py."""
    J, mask = hand_jacobian(seed)
    fg, bg, _ = region_grams(J, (mask == 1).double())
    for M in (fg, bg):
        L, S, n_iter, mu = official_robust_pca(M.numpy())
        fast, faithful = robust_pca(M), robust_pca(M, solver="svd")
        assert fast.n_iter == faithful.n_iter == n_iter and fast.converged and faithful.converged
        assert fast.mu == pytest.approx(mu, rel=1e-12) and fast.lam == 1 / 60
        assert fast.tolerance == pytest.approx(1e-7 * np.linalg.norm(M.numpy()), rel=1e-12)
        scale = np.abs(M.numpy()).max()
        for ours in (fast, faithful):
            np.testing.assert_allclose(ours.low_rank.numpy(), L, atol=1e-11 * scale)
            np.testing.assert_allclose(ours.sparse.numpy(), S, atol=1e-11 * scale)


def test_mu_uses_the_induced_one_norm_as_the_official_code():
    M = np.array([[4.0, -1.0, 0.0], [-1.0, 3.0, 2.0], [0.0, 2.0, 1.0]])
    result = robust_pca(M, max_iter=1, warn=False)
    assert result.mu == pytest.approx(9 / (4 * 6.0))  # largest absolute column sum 6 (the entrywise sum is 14)
    assert result.mu == pytest.approx(official_robust_pca(M, max_iter=1)[3])


def test_robust_pca_stopped_at_max_iter_warns_and_says_so():
    L0, S0 = planted()
    L, _, n_iter, _ = official_robust_pca(L0 + S0, max_iter=5)
    with pytest.warns(ConvergenceWarning, match="stopped at max_iter=5 .*official LowRankGAN code stops there too"):
        result = robust_pca(L0 + S0, max_iter=5)
    assert n_iter == result.n_iter == 5 and not result.converged and result.residual > result.tolerance
    np.testing.assert_allclose(result.low_rank.numpy(), L, atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not robust_pca(L0 + S0, max_iter=5, warn=False).converged


def test_svd_solver_takes_any_matrix_and_eigh_only_symmetric_ones():
    g = np.random.default_rng(0)
    A = g.standard_normal((6, 9))
    L, S, n_iter, _ = official_robust_pca(A, lamb=None)
    result = robust_pca(A, lam=None, solver="svd")
    assert result.n_iter == n_iter
    np.testing.assert_allclose(result.low_rank.numpy(), L, atol=1e-10)
    np.testing.assert_allclose(result.sparse.numpy(), S, atol=1e-10)
    with pytest.raises(InvalidInputError, match=r"solver='eigh' needs a symmetric matrix.*6×9.*solver='svd'"):
        robust_pca(A)
    with pytest.raises(InvalidInputError, match=r"‖M − Mᵀ‖_F / ‖M‖_F = .*solver='svd'"):
        robust_pca(A[:, :6])


def test_robust_pca_bad_input():
    M = np.eye(3)
    with pytest.raises(InvalidInputError, match="all zeros"):
        robust_pca(np.zeros((3, 3)))
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        robust_pca(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(InvalidInputError, match=r"\(d₁, d₂\) expected; got \(3,\)"):
        robust_pca(np.ones(3))
    with pytest.raises(InvalidTypeError, match="a real matrix expected"):
        robust_pca(torch.eye(2, dtype=torch.complex128))
    with pytest.raises(InvalidTypeError, match="torch.Tensor or numpy array"):
        robust_pca([[1.0]])
    with pytest.raises(InvalidInputError, match="Invalid solver: got 'qr'"):
        robust_pca(M, solver="qr")
    with pytest.raises(InvalidInputError, match=r"lam \(official: 1/60.*must be a number in \(0.0, inf\]"):
        robust_pca(M, lam=0)
    with pytest.raises(InvalidInputError, match=r"max_iter \(official: 10000\) must be an int in \[1, inf\]"):
        robust_pca(M, max_iter=0)
    with pytest.raises(NonFiniteError, match=r"tol \(official: 1e-7\) must be a finite number"):
        robust_pca(M, tol=float("nan"))


# ----------------------------------------------------------------------------- the directions
@pytest.mark.parametrize("seed, num_relax", [(3, 0), (4, 1)])
def test_directions_equal_compute_directions_on_a_hand_made_jacobian(seed, num_relax):
    J, mask = hand_jacobian(seed)
    theirs, theirs_proj, rank_f, rank_b, iters = official_compute_directions(
        J[0, 0].numpy()[:, :, None], mask.numpy(), num_relax=num_relax)
    assert rank_f == 2 and rank_b == 2  # the cases are made so both spaces are non-trivial
    with pytest.warns(UserWarning, match=r"1 pixel\(s\) strictly between 0 and 1"):
        fg, bg, rows = region_grams(J, mask)
    assert rows == [(24.0, 95.0)]  # one fused channel: pixel counts
    for solver in ("eigh", "svd"):
        result = lowrank_directions(fg, bg, num_relax=num_relax, solver=solver)
        info = result.info
        assert (info["rank_f"], info["rank_b"], info["relax"]) == (rank_f, rank_b, max(1, rank_b - num_relax))
        assert (info["n_iter_f"], info["n_iter_b"]) == iters and info["converged_f"] and info["converged_b"]
        assert_same_rows_up_to_sign(result.directions, theirs_proj)
        assert_same_rows_up_to_sign(info["principal"], theirs)
        # the signs: each direction's largest entry positive, its principal direction flipped with it
        N = result.directions
        assert (N.gather(1, N.abs().argmax(1, keepdim=True)) > 0).all()
        assert ((N * info["principal"]).sum(1) > 0).all()
        s = torch.linalg.svdvals(info["low_rank_f"])[:rank_f]
        torch.testing.assert_close(result.scores, s)


def test_projection_removes_the_backgrounds_principal_directions():
    J, mask = hand_jacobian(3)
    fg, bg, _ = region_grams(J, (mask == 1).double())
    result = lowrank_directions(fg, bg)
    _, _, VH_b = torch.linalg.svd(result.info["low_rank_b"])
    removed = VH_b[: result.info["relax"]]
    assert (removed @ result.directions.T).abs().max() < 1e-12
    torch.testing.assert_close(result.directions.norm(dim=1), torch.ones(2, dtype=torch.float64))
    P = result.info["principal"]
    torch.testing.assert_close(P @ P.T, torch.eye(2, dtype=torch.float64))


def test_a_region_robust_pca_puts_entirely_in_the_sparse_part_has_no_directions():
    J, mask = hand_jacobian(1)  # the official code finds rank_f = 0 here
    assert official_compute_directions(J[0, 0].numpy()[:, :, None], mask.numpy())[2] == 0
    fg, bg, _ = region_grams(J, (mask == 1).double())
    with pytest.raises(InvalidInputError, match="the region's low-rank part L_f is zero"):
        lowrank_directions(fg, bg)


# ----------------------------------------------------------------------------- the image and its resize
def test_nearest_indices_are_tensorflow_1s_rule():
    assert torch.equal(nearest_indices(1024, 256), torch.arange(0, 1024, 4))
    assert torch.equal(nearest_indices(64, 256), torch.arange(256) // 4)
    for size_in in (100, 300, 512):  # tf.image.resize_images(method=1): floor(i · float32(in / out))
        scale = np.float32(size_in / 256)
        expected = np.minimum(np.floor(np.arange(256, dtype=np.float32) * scale), size_in - 1).astype(np.int64)
        np.testing.assert_array_equal(nearest_indices(size_in, 256).numpy(), expected)


def test_official_upsampling_leaves_the_matrices_unchanged():
    """An image whose side divides 256 is not upsampled: repeating every row k² times changes nothing."""
    J, mask = hand_jacobian(3, h=8, w=8)
    mask = (mask == 1).double()
    up = nearest_indices(8, 32)
    J_up, mask_up = J[:, :, up][:, :, :, up], mask[up][:, up]
    for a, b in zip(region_grams(J, mask)[:2], region_grams(J_up, mask_up)[:2]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- the real generator
@pytest.fixture(scope="module")
def latents(dcgan):
    return dcgan.sample_latents(2, seed=5)


@pytest.fixture(scope="module")
def jacobians(dcgan, latents):
    return lowrankgan_jacobians(dcgan, latents)


@pytest.fixture(scope="module")
def eyes():
    return (face_mask("eyes") >= 0.5).float()


def test_jacobians_are_the_official_fused_channel_jacobians(dcgan, latents, jacobians):
    assert jacobians.shape == (2, 1, 64, 64, 100)  # 64 divides 256: no resize (see above)
    full = image_jacobians(dcgan, latents[:1])
    torch.testing.assert_close(jacobians[:1], full.mean(1, keepdim=True), atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def small_jacobians(dcgan, latents):
    """The first latent's Jacobian of the image resized to 32 px (the official rule, downwards)."""
    return lowrankgan_jacobians(dcgan, latents[:1], image_size=32)


@pytest.mark.parametrize("image_size", [32, 96])
def test_jacobians_of_a_resized_image_follow_the_official_rule(dcgan, latents, jacobians, small_jacobians, image_size):
    resized = small_jacobians if image_size == 32 else lowrankgan_jacobians(dcgan, latents[:1], image_size=image_size)
    idx = nearest_indices(64, image_size)
    assert resized.shape == (1, 1, image_size, image_size, 100)
    torch.testing.assert_close(resized, jacobians[:1][:, :, idx][:, :, :, idx], atol=1e-6, rtol=1e-5)


def test_dcgan_directions_equal_the_official_code(dcgan, latents, jacobians, eyes):
    """On the real generator's Jacobian (with the official --max_iter 10, to stay fast)."""
    theirs, theirs_proj, rank_f, rank_b, iters = official_compute_directions(
        jacobians[0, 0].double().numpy()[:, :, None], eyes.numpy(), max_iter=10)
    with pytest.warns(ConvergenceWarning, match="max_iter=10 .*region's M_f .* and the background's M_b"):
        result = lowrankgan(dcgan, latents[:1], eyes, jacobians=jacobians[:1], max_iter=10)
    info = result.info
    assert (info["rank_f"], info["rank_b"]) == (rank_f, rank_b) and rank_f >= 2
    assert (info["n_iter_f"], info["n_iter_b"]) == iters == (10, 10)
    assert not info["converged_f"] and not info["converged_b"]
    assert result.method == "lowrankgan" and result.directions.shape == (rank_f, 100, 1, 1)
    assert result.directions.dtype == torch.float64
    assert_same_rows_up_to_sign(result.directions, theirs_proj, tol=1e-8)
    assert_same_rows_up_to_sign(info["principal"], theirs, tol=1e-8)
    assert info["latent"] == "latent" and info["jacobian_size"] == (64, 64) and info["n_samples"] == 1
    n_region = int(eyes.sum())
    assert info["rows"] == [(float(n_region), float(64 * 64 - n_region))]
    edited = dcgan.synthesize(apply_direction(latents[:1], result[0], 2.0))
    assert edited.shape == (1, 3, 64, 64) and torch.isfinite(edited).all()


def test_several_latents_average_their_matrices(dcgan, latents, jacobians, eyes):
    with pytest.warns(ConvergenceWarning):
        both = lowrankgan(dcgan, latents, eyes, jacobians=jacobians, max_iter=5)
    single = [region_grams(jacobians[i : i + 1], eyes)[:2] for i in range(2)]
    torch.testing.assert_close(both.info["fg"], (single[0][0] + single[1][0]) / 2)
    torch.testing.assert_close(both.info["bg"], (single[0][1] + single[1][1]) / 2)
    assert both.info["n_samples"] == 2


def test_a_mask_at_the_image_resolution_is_resized_with_the_image(dcgan, latents, eyes, small_jacobians):
    small = small_jacobians
    idx = nearest_indices(64, 32)
    with pytest.warns(ConvergenceWarning):
        at_image = lowrankgan(dcgan, latents[:1], eyes, jacobians=small, max_iter=5)
    with pytest.warns(ConvergenceWarning):
        at_jacobian = lowrankgan(dcgan, latents[:1], eyes[idx][:, idx], jacobians=small, max_iter=5)
    assert at_image.info["jacobian_size"] == (32, 32)
    torch.testing.assert_close(at_image.directions, at_jacobian.directions)


def test_bad_input_gets_a_clear_error_and_no_jacobian(dcgan, latents, eyes, monkeypatch):
    def no_jacobians(*args, **kwargs):
        raise AssertionError("the input should have been refused before any Jacobian")

    monkeypatch.setattr(lowrankgan_module, "image_jacobians", no_jacobians)
    before = latents.clone()
    with pytest.raises(InvalidInputError, match=r"mask of shape \(64, 64\)"):
        lowrankgan(dcgan, latents, torch.ones(32, 32))
    with pytest.raises(InvalidInputError, match="no pixel is exactly 1.*LowRankGAN"):
        lowrankgan(dcgan, latents, 0.9 * eyes)
    with pytest.raises(InvalidInputError, match="covers the whole image: no pixel is exactly 0"):
        lowrankgan(dcgan, latents, torch.ones(64, 64))
    with pytest.raises(InvalidInputError, match="mask is empty"):
        lowrankgan(dcgan, latents, torch.zeros(64, 64))
    with pytest.raises(InvalidInputError, match=r"mask values must lie in \[0, 1\]"):
        lowrankgan(dcgan, latents, 2 * eyes)
    nan = latents.clone()
    nan[1, 3] = float("nan")
    with pytest.raises(NonFiniteError, match=r"NaN or infinite values in sample\(s\) 1"):
        lowrankgan(dcgan, nan, eyes)
    with pytest.raises(InvalidInputError, match=r"latents of shape \(N, 100, 1, 1\) expected"):
        lowrankgan(dcgan, torch.ones(2, 99), eyes)
    for option, match in [
        (dict(lam=0), r"lam \(official: 1/60.*must be a number in \(0.0, inf\]"),
        (dict(max_iter=0), r"max_iter \(official: 10000\) must be an int in \[1, inf\]"),
        (dict(tol=-1), r"tol \(official: 1e-7\) must be a number in \[0.0, inf\]"),
        (dict(solver="qr"), "Invalid solver: got 'qr'"),
        (dict(num_relax=-1), r"num_relax \(official: 0\) must be an int in \[0, inf\]"),
        (dict(mask_mode="weighted"), "Invalid mask_mode: got 'weighted'"),
        (dict(image_size=0), r"image_size \(official: 256\) must be an int in \[1, inf\]"),
        (dict(jacobians=torch.zeros(2, 1, 64, 64, 99)), r"jacobians of shape \(2, C, H, W, 100\)"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            lowrankgan(dcgan, latents, eyes, **option)
    with pytest.raises(InvalidTypeError, match=r"fused_channel \(official: True\) must be True or False"):
        lowrankgan(dcgan, latents, eyes, fused_channel="yes")
    with pytest.raises(InvalidTypeError, match="pass latents \\(e.g. inversion.latents\\), not an Inversion"):
        lowrankgan(dcgan, Inversion(latents=latents), eyes)
    torch.testing.assert_close(latents, before, rtol=0, atol=0)


# ----------------------------------------------------------------------------- a style-based generator
def test_w_plus_jacobian_is_one_w_for_every_layer(stylegan2):
    """The official code differentiates one w tiled over the layers: the w+ Jacobian along one w
    added to every layer equals the w-space Jacobian."""
    G_w, G_wp = stylegan2("w"), stylegan2("w+")
    w = G_w.sample_latents(1, seed=1)
    wp = w[:, None].repeat(1, G_wp.latent_shape[0], 1)
    J_w, J_wp = lowrankgan_jacobians(G_w, w), lowrankgan_jacobians(G_wp, wp)
    assert J_w.shape == J_wp.shape == (1, 1, 32, 32, 64)
    torch.testing.assert_close(J_wp, J_w, atol=1e-6, rtol=1e-5)
    mask = torch.zeros(32, 32)
    mask[10:18, 8:24] = 1
    with pytest.warns(ConvergenceWarning):
        result = lowrankgan(G_wp, wp, mask, jacobians=J_wp, max_iter=20)
    assert result.directions.shape == (result.info["rank_f"], 64) and result.info["latent"] == "w for every layer of w+"
    edited = apply_direction(wp, result[0], 1.0, layers=EDIT_LAYERS)
    torch.testing.assert_close(edited[:, 4:8] - wp[:, 4:8], result[0].float().expand(1, 4, 64))
    assert torch.equal(edited[:, :4], wp[:, :4]) and torch.equal(edited[:, 8:], wp[:, 8:])


# ----------------------------------------------------------------------------- the official edit
def test_layer_wise_edit_equals_the_official_manipulate_codes():
    g = torch.Generator().manual_seed(0)
    ws = torch.randn(1, 10, 6, generator=g, dtype=torch.float64)
    direction = torch.randn(6, generator=g, dtype=torch.float64)
    official = official_manipulate_codes(ws.numpy(), np.tile(direction.numpy()[None, None], [1, 10, 1]), list(EDIT_LAYERS))
    np.testing.assert_allclose(EDIT_DISTANCES, np.linspace(-4, 4, 7))
    ours = torch.cat([apply_direction(ws, direction, a, layers=EDIT_LAYERS) for a in EDIT_DISTANCES])
    np.testing.assert_allclose(ours.numpy(), official, atol=1e-6)  # the official distances are float32
    # a per-layer direction moves only its chosen layers; per-sample strengths as before
    per_layer = torch.randn(10, 6, generator=g, dtype=torch.float64)
    two = ws.repeat(2, 1, 1)
    moved = apply_direction(two, per_layer, torch.tensor([1.0, -2.0]), layers=[0, 9])
    torch.testing.assert_close(moved[1, [0, 9]], two[1, [0, 9]] - 2 * per_layer[[0, 9]])
    assert torch.equal(moved[:, 1:9], two[:, 1:9])


def test_layer_wise_edit_bad_input():
    ws = torch.zeros(2, 8, 4)
    before = ws.clone()
    with pytest.raises(ValueError, match=r"or one w \(4,\) with layers="):
        apply_direction(ws, torch.ones(4), 1.0)
    with pytest.raises(InvalidInputError, match=r"layers= needs per-layer latents .* got latents of shape \(2, 4\)"):
        apply_direction(torch.zeros(2, 4), torch.ones(4), 1.0, layers=[1])
    with pytest.raises(InvalidInputError, match=r"ints in \[0, 7\] \(the latents have 8 layers\); got \[4, 8\]"):
        apply_direction(ws, torch.ones(4), 1.0, layers=[4, 8])
    with pytest.raises(InvalidInputError, match="non-empty"):
        apply_direction(ws, torch.ones(4), 1.0, layers=[])
    with pytest.raises(InvalidTypeError, match=r"sequence of layer indices, e.g. \(4, 5, 6, 7\)"):
        apply_direction(ws, torch.ones(4), 1.0, layers="4,5,6,7")
    with pytest.raises(InvalidInputError, match="got \\[True\\]"):
        apply_direction(ws, torch.ones(4), 1.0, layers=[True])
    assert torch.equal(ws, before)


# ----------------------------------------------------------------------------- the official direction files
def unit_rows(k: int, width: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((k, width))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_loads_an_official_direction_file(stylegan2, tmp_path, space):
    G = stylegan2(space)
    rows = unit_rows(4, 64)
    np.save(tmp_path / "eyes_size.npy", rows)
    result = load_directions(tmp_path / "eyes_size.npy", G)
    assert result.method == "lowrankgan" and result.directions.dtype == torch.float64
    np.testing.assert_array_equal(result.directions.numpy(), rows)
    assert torch.isnan(result.scores).all() and result.info["space"] == "w" and result.info["dtype"] == "float64"
    if space == "w+":
        ws = G.sample_latents(1, seed=0)
        edited = apply_direction(ws, result[1], 4.0, layers=EDIT_LAYERS)
        torch.testing.assert_close(edited[0, 5] - ws[0, 5], 4.0 * result[1].float())


def test_loads_float32_files_and_latent_space_files_of_a_dcgan(dcgan, tmp_path):
    rows = unit_rows(2, 100)
    np.save(tmp_path / "f32.npy", rows.astype(np.float32))
    result = load_directions(tmp_path / "f32.npy", dcgan)
    np.testing.assert_array_equal(result.directions.numpy(), rows.astype(np.float32).astype(np.float64))
    assert result.info == {"path": str(tmp_path / "f32.npy"), "space": "latent", "dtype": "float32"}


def test_direction_file_bad_input(stylegan2, tmp_path):
    G = stylegan2("w")

    def saved(name, array, **kwargs):
        np.save(tmp_path / name, array, **kwargs)
        return tmp_path / name

    with pytest.raises(InvalidFileError, match=r"holds 3×65 directions; .* needs rows of width 64 \(w_dim 64\)"):
        load_directions(saved("wide.npy", unit_rows(3, 65)), G)
    with pytest.raises(InvalidFileError, match=r"has dtype int64; expected floats \(float16, float32 or float64\)"):
        load_directions(saved("int.npy", np.ones((3, 64), dtype=np.int64)), G)
    with pytest.raises(UnsafeFileError, match="object array"):
        load_directions(saved("object.npy", np.array([[None] * 64], dtype=object), allow_pickle=True), G)
    with pytest.raises(InvalidFileError, match=r"shape \(64,\); a 2-D matrix expected"):
        load_directions(saved("vector.npy", unit_rows(1, 64)[0]), G)
    with pytest.raises(InvalidFileError, match=r"shape \(1, 2, 64\); a 2-D matrix expected"):
        load_directions(saved("cube.npy", unit_rows(2, 64)[None]), G)
    with pytest.raises(InvalidFileError, match=r"holds no directions \(0×64\)"):
        load_directions(saved("empty.npy", np.zeros((0, 64))), G)
    with pytest.raises(InvalidFileError, match=r"row 1 has norm 3 .*latent codes"):
        load_directions(saved("scaled.npy", unit_rows(3, 64) * [[1], [3], [1]]), G)
    nan = unit_rows(2, 64)
    nan[0, 0] = np.nan
    with pytest.raises(InvalidFileError, match="non-finite values"):
        load_directions(saved("nan.npy", nan), G)
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(InvalidFileError, match="is not a .npy file"):
        load_directions(tmp_path / "text.npy", G)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_directions(tmp_path / "missing.npy", G)
    ok = saved("ok.npy", unit_rows(2, 64))
    with pytest.raises(InvalidInputError, match="takes z latents, but LowRankGAN's directions are in W: .*latent_space='w'"):
        load_directions(ok, stylegan2("z"))
    with pytest.raises(InvalidInputError, match="Invalid method: got 'sefa'"):
        load_directions(ok, G, method="sefa")
