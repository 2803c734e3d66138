"""GANSpace: orthonormal latent directions from PCA of early activations."""

from __future__ import annotations

import pytest
import torch

from panda_viz.baselines import default_ganspace_layer, ganspace, sefa


@pytest.fixture(scope="module")
def result(dcgan):
    return ganspace(dcgan, n_samples=600, k=20, seed=0, progress=False)


def test_default_layer_is_the_first_activation(dcgan):
    assert default_ganspace_layer(dcgan) == "main.2"


def test_orthonormal(result):
    D = result.directions.flatten(1).double()
    assert result.directions.shape == (20, 100, 1, 1)
    torch.testing.assert_close(D @ D.T, torch.eye(20, dtype=torch.float64), atol=1e-5, rtol=0)


def test_scores_are_decreasing_variances(result):
    assert (result.scores[:-1] >= result.scores[1:]).all() and (result.scores > 0).all()


def test_first_direction_is_the_first_regressed_one(result):
    torch.testing.assert_close(result.directions[0], result.info["regressed"][0], atol=1e-5, rtol=0)


def test_deterministic(dcgan, result):
    again = ganspace(dcgan, n_samples=600, k=20, seed=0, progress=False)
    torch.testing.assert_close(again.directions, result.directions)


def test_linear_layer_recovers_sefa_without_normalisation(dcgan):
    """On main.0 (linear in z) the regression gives the right singular vectors of its weight.

    Up to sampling noise (the sample covariance of z is not exactly I), which grows as the
    eigenvalue gaps shrink: checked on the two leading, well separated directions.
    """
    g = ganspace(dcgan, layer="main.0", n_samples=3000, k=2, seed=1, progress=False)
    s = sefa(dcgan, normalize=False, k=2)
    cos = (g.directions.flatten(1) * s.directions.flatten(1)).sum(1).abs()
    assert (cos > 0.95).all(), cos


def test_bad_input(dcgan):
    with pytest.raises(ValueError, match="n_samples must be an int > 100"):
        ganspace(dcgan, n_samples=50)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 100\]"):
        ganspace(dcgan, n_samples=200, k=101)
    with pytest.raises(ValueError, match="layer 'nope' not found"):
        ganspace(dcgan, layer="nope", n_samples=200)


def test_pca_on_w_for_a_style_based_generator(stylegan2):
    """GANSpace's StyleGAN recipe: the principal components of sampled w are the directions."""
    G = stylegan2("w")
    result = ganspace(G, n_samples=400, k=5, seed=0)
    assert result.directions.shape == (5, 64) and result.info["space"] == "w"
    w = G.sample_latents(400, seed=0).double()
    values, vectors = torch.linalg.eigh(torch.cov(w.T))
    torch.testing.assert_close(result.scores.double(), values.flip(0)[:5], rtol=1e-4, atol=1e-6)
    for i in range(5):
        assert abs(abs(float(result.directions[i].double() @ vectors[:, -1 - i])) - 1) < 1e-4
    with pytest.raises(ValueError, match="load it with latent_space='w' and GANSpace runs PCA on w"):
        ganspace(stylegan2("z"), n_samples=400)
