"""GANSpace: its own directions, computed as its code (harskish/ganspace) computes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz.baselines import default_ganspace_layer, ganspace
from panda_viz.exceptions import InvalidInputError, InvalidTypeError

D_LATENT, D_FEATURE = 4, 6
SIGMAS = (8.0, 4.0, 2.0, 1.0)


@pytest.fixture(scope="module")
def planted():
    """A generator whose parameter-free layer '1' is the planted linear map y = W z, W = U Σ Rᵀ."""
    g = torch.Generator().manual_seed(0)
    U = torch.linalg.qr(torch.randn(D_FEATURE, D_LATENT, generator=g))[0]
    R = torch.linalg.qr(torch.randn(D_LATENT, D_LATENT, generator=g))[0]
    W = U @ torch.diag(torch.tensor(SIGMAS)) @ R.T
    conv = torch.nn.ConvTranspose2d(D_LATENT, D_FEATURE, 1, bias=False)
    conv.weight.data = W.T.reshape(D_LATENT, D_FEATURE, 1, 1).contiguous()
    G = panda_viz.load_generator(torch.nn.Sequential(conv, torch.nn.Identity()), latent_shape=(D_LATENT, 1, 1))
    return G, W.double(), R.double()


def ganspace_by_hand(z_pca: np.ndarray, z_reg: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace's estimators.PCAEstimator + decomposition.linreg_lstsq + normalisation, in numpy."""
    X = z_pca @ W.T
    mean = X.mean(0, keepdims=True)
    vt = np.linalg.svd(X - mean, full_matrices=False)[2][:D_LATENT]  # k = 4 components
    vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])[:, None]  # sklearn svd_flip
    stdev = (vt @ (X - mean).T).std(axis=1)
    A = ((z_reg @ W.T - mean) @ vt.T) / stdev  # coords_scaled
    M_t = np.linalg.lstsq(A, z_reg, rcond=None)[0]  # no intercept, raw latents
    return M_t / np.linalg.norm(M_t, axis=-1, keepdims=True), stdev


def test_planted_map_equals_ganspace_by_hand(planted):
    G, W, R = planted
    result = ganspace(G, n_samples=2000, k=4, estimator="pca", n_regression=500, progress=False)
    assert result.info["layer"] == "1" and result.info["n_samples"] == 2000 and result.info["n_regression"] == 500
    rng = torch.Generator().manual_seed(0)  # seed=0: the PCA latents, then (random_state=None) fresh ones
    z_pca = G.sample_latents(2000, rng=rng).flatten(1).double().numpy()
    z_reg = G.sample_latents(500, rng=rng).flatten(1).double().numpy()
    expected, stdev = ganspace_by_hand(z_pca, z_reg, W.numpy())
    np.testing.assert_allclose(result.directions.flatten(1).double().numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(result.scores.double().numpy(), stdev**2, rtol=1e-6)
    assert result.info["orthonormalized"] is False
    torch.testing.assert_close(result.info["regressed"], result.directions)


def test_planted_map_regression_recovers_the_right_singular_vectors(planted):
    """y = W z is linear: the regressed directions are W's right singular vectors r_j (up to sampling)."""
    G, _, R = planted
    result = ganspace(G, n_samples=2000, k=4, progress=False)
    cos = (result.directions.flatten(1).double() @ R).abs().diagonal()
    assert (cos > 0.99).all(), cos  # sampling noise ~ 1/√n: the sample covariance of z is not exactly I
    # the variances are σ_j² (z ~ N(0, I)), up to sampling
    np.testing.assert_allclose(result.scores.numpy(), np.square(SIGMAS), rtol=0.1)


def test_incremental_pca_equals_exact_pca_on_low_rank_data(planted):
    """IPCA is exact when the data's rank (4) is at most k: same directions over 3 chunks;
    σ² is s²/(n−1) for IPCA (explained_variance_) and s²/n for PCA (std, ddof 0)."""
    G, _, _ = planted
    ipca = ganspace(G, n_samples=4500, k=4, n_regression=300, progress=False)
    pca = ganspace(G, n_samples=4500, k=4, n_regression=300, estimator="pca", progress=False)
    assert ipca.info["n_samples"] == pca.info["n_samples"] == 6000  # rounded up to whole chunks of 2000
    assert ipca.info["estimator"] == "ipca"
    torch.testing.assert_close(ipca.directions, pca.directions, atol=1e-5, rtol=0)
    torch.testing.assert_close(pca.scores.double(), ipca.scores.double() * 5999 / 6000, rtol=1e-5, atol=0)


def test_regression_latents_are_fresh_and_follow_random_state(planted):
    G, _, _ = planted
    common = dict(n_samples=2000, k=4, n_regression=40, progress=False)
    default = ganspace(G, **common)
    torch.testing.assert_close(ganspace(G, **common).directions, default.directions)  # reproducible from seed
    a = ganspace(G, random_state=5, **common)
    torch.testing.assert_close(ganspace(G, random_state=torch.Generator().manual_seed(5), **common).directions,
                               a.directions)
    assert not torch.allclose(a.directions, default.directions)
    assert ganspace(G, n_samples=2000, k=4, progress=False).info["n_regression"] == 10_000  # max(10000, n)
    assert ganspace(G, n_samples=12_345, k=2, n_regression=10, progress=False).info["n_samples"] == 14_000


def test_the_global_torch_generator_is_left_alone(planted):
    G, _, _ = planted
    state = torch.get_rng_state()
    ganspace(G, n_samples=2000, k=4, n_regression=40, progress=False)
    ganspace(G, n_samples=2000, k=4, n_regression=40, random_state=3, progress=False)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.fixture(scope="module")
def result(dcgan):
    return ganspace(dcgan, n_samples=600, k=20, n_regression=2000, progress=False)


def test_default_layer_is_the_first_activation(dcgan, result):
    assert default_ganspace_layer(dcgan) == "main.2" and result.info["layer"] == "main.2"
    assert result.directions.shape == (20, 100, 1, 1) and result.info["n_samples"] == 2000


def test_directions_are_unit_norm_and_not_orthogonal(result):
    """GANSpace's own directions are unit norm but not mutually orthogonal."""
    D = result.directions.flatten(1).double()
    torch.testing.assert_close(D.norm(dim=1), torch.ones(20, dtype=torch.float64), atol=1e-6, rtol=0)
    off = (D @ D.T - torch.eye(20, dtype=torch.float64)).abs()
    assert off.max() > 0.05


def test_orthonormalize_option(planted):
    G, _, _ = planted
    common = dict(n_samples=2000, k=4, n_regression=30, progress=False)  # few regression samples: far from orthogonal
    raw = ganspace(G, **common)
    ortho = ganspace(G, orthonormalize=True, **common)
    Q, D = ortho.directions.flatten(1).double(), raw.directions.flatten(1).double()
    assert (D @ D.T - torch.eye(4, dtype=torch.float64)).abs().max() > 1e-3
    assert ortho.info["orthonormalized"] is True
    torch.testing.assert_close(Q @ Q.T, torch.eye(4, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(ortho.info["regressed"], raw.directions)
    torch.testing.assert_close(Q[0], D[0], atol=1e-6, rtol=0)
    # the first j orthonormal directions span the first j of GANSpace's, each on its side
    for j in range(4):
        residual = D[j] - Q[: j + 1].T @ (Q[: j + 1] @ D[j])
        assert residual.norm() < 1e-6 and float(Q[j] @ D[j]) > 0


def test_scores_are_decreasing_variances(result):
    assert (result.scores[:-1] >= result.scores[1:]).all() and (result.scores > 0).all()
    torch.testing.assert_close(result.scores, result.info["stdev"] ** 2)


def test_bad_input(dcgan, planted):
    G, _, _ = planted
    with pytest.raises(InvalidInputError, match=r"k \(at most the analysed features' size\) must be an int in \[1, 6\]; got 7"):
        ganspace(G, k=7)
    with pytest.raises(InvalidInputError, match=r"n_samples must be an int in \[2, inf\]; got 1"):
        ganspace(G, n_samples=1, k=2)
    with pytest.raises(InvalidInputError, match=r"Invalid estimator: got 'fbpca' instead of one of"):
        ganspace(G, estimator="fbpca", k=2)
    with pytest.raises(InvalidInputError, match=r"n_regression \(at least k\) must be an int in \[4, inf\]; got 3"):
        ganspace(G, k=4, n_regression=3)
    with pytest.raises(InvalidTypeError, match="random_state must be None, an int >= 0 or a torch.Generator"):
        ganspace(G, k=2, random_state="x")
    with pytest.raises(InvalidTypeError, match="orthonormalize must be True or False; got int 1"):
        ganspace(G, k=2, orthonormalize=1)
    with pytest.raises(InvalidInputError, match=r"orthonormalize=True needs k <= 4 \(the latent size"):
        ganspace(G, k=5, orthonormalize=True)
    with pytest.raises(ValueError, match="layer 'nope' not found"):
        ganspace(dcgan, layer="nope", n_samples=200)


def test_pca_on_w_for_a_style_based_generator(stylegan2):
    """GANSpace's StyleGAN recipe (samples_are_latents): the principal components of sampled w."""
    G = stylegan2("w")
    result = ganspace(G, n_samples=400, k=5, estimator="pca")
    assert result.directions.shape == (5, 64) and result.info["space"] == "w" and result.info["n_regression"] == 0
    w = G.sample_latents(2000, seed=0).double()  # 400 rounded up to a whole chunk
    values, vectors = torch.linalg.eigh(torch.cov(w.T, correction=0))
    torch.testing.assert_close(result.scores.double(), values.flip(0)[:5], rtol=1e-4, atol=1e-6)
    for i in range(5):
        assert abs(abs(float(result.directions[i].double() @ vectors[:, -1 - i])) - 1) < 1e-4
    with pytest.raises(ValueError, match="load it with latent_space='w' and GANSpace runs PCA on w"):
        ganspace(stylegan2("z"), n_samples=400)
