"""SeFa: equals a direct eigendecomposition of the first projection's weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from einops import rearrange

import panda_viz
from panda_viz.baselines import Directions, apply_direction, latent_projection, sefa


def test_finds_main0_and_its_weight(dcgan):
    name, A = latent_projection(dcgan)
    assert name == "main.0"
    W = dcgan.module.get_submodule("main.0").weight.detach()
    assert A.shape == (512 * 4 * 4, 100)
    torch.testing.assert_close(A, rearrange(W, "d c h w -> (c h w) d").double())


def test_projection_is_the_modules_linear_map(dcgan):
    """A z equals main.0's output for a latent (the reshape is the right one)."""
    _, A = latent_projection(dcgan)
    z = dcgan.sample_latents(3, seed=1)
    out = dcgan.module.get_submodule("main.0")(z).flatten(1).double()
    torch.testing.assert_close(out, z.flatten(1).double() @ A.T, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("normalize", [False, True])
def test_equals_direct_eigendecomposition(dcgan, normalize):
    result = sefa(dcgan, normalize=normalize)
    _, A = latent_projection(dcgan)
    A = A.numpy()
    if normalize:
        A = A / np.linalg.norm(A, axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(A.T @ A)
    values, vectors = values[::-1], vectors[:, ::-1].T
    np.testing.assert_allclose(result.scores.numpy(), values, rtol=1e-4)
    got = result.directions.flatten(1).double().numpy()
    # eigenvectors up to sign; the top ones have well separated eigenvalues
    for i in range(10):
        assert abs(abs(got[i] @ vectors[i]) - 1) < 1e-4
    assert result.directions.shape == (100, 100, 1, 1)
    np.testing.assert_allclose(got @ got.T, np.eye(100), atol=1e-5)


def test_weight_override_and_k():
    rng = np.random.default_rng(0)
    W = torch.as_tensor(rng.normal(size=(30, 6)))
    result = sefa(weight=W, k=3, normalize=False)
    values = np.linalg.eigvalsh(W.numpy().T @ W.numpy())[::-1][:3]
    np.testing.assert_allclose(result.scores.numpy(), values, rtol=1e-5)
    assert result.directions.shape == (3, 6)


def test_bad_input(dcgan):
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 100\]"):
        sefa(dcgan, k=0)
    with pytest.raises(ValueError, match="weight must be a matrix"):
        sefa(weight=torch.ones(3))
    with pytest.raises(ValueError, match="module 'main.99' not found"):
        sefa(dcgan, layer="main.99")
    with pytest.raises(ValueError, match="weight has 6 columns but the latent shape is"):
        sefa(dcgan, weight=torch.ones(4, 6))


def test_apply_direction(dcgan):
    result = sefa(dcgan, k=5)
    assert isinstance(result, Directions) and len(result) == 5
    z = dcgan.sample_latents(4, seed=0)
    moved = apply_direction(z, result[0], 2.0)
    torch.testing.assert_close(moved - z, 2.0 * result[0].expand_as(z))
    per_sample = apply_direction(z, result[0].flatten(), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    torch.testing.assert_close(per_sample[0], z[0])
    with pytest.raises(ValueError, match=r"direction of shape \(100, 1, 1\)"):
        apply_direction(z, torch.ones(7), 1.0)
    with pytest.raises(ValueError, match=r"latents of shape \(N, \*latent_shape\) expected"):
        apply_direction(torch.ones(100), result[0], 1.0)
    with pytest.raises(ValueError, match=r"alpha must be a number or a tensor of shape \(4,\)"):
        apply_direction(z, result[0], torch.ones(3))


def test_style_affines_of_a_w_space_stylegan2(stylegan2):
    """SeFa on style-based generators: the concatenated style-affine weights, directions in w."""
    G = stylegan2("w")
    affines = [n for n, _ in G.module.named_modules() if n.endswith(".affine")]
    result = sefa(G, layer=affines, normalize=False)
    A = torch.cat([G.module.get_submodule(n).weight.detach().double() for n in affines])
    values, vectors = torch.linalg.eigh(A.T @ A)
    torch.testing.assert_close(result.scores.double(), values.flip(0).float().double(), rtol=1e-4, atol=1e-4)
    assert abs(abs(float(result.directions[0].double() @ vectors[:, -1])) - 1) < 1e-4
    assert result.directions.shape == (64, 64) and result.info["A_shape"] == (A.shape[0], 64)
    z = G.sample_latents(2, seed=0)
    assert not torch.equal(G.synthesize(apply_direction(z, result[0], 3.0)), G.synthesize(z))


def test_layers_not_fed_the_latents_are_refused(stylegan2, testvectors):
    for space in ("z", "w+"):
        G = stylegan2(space)
        with pytest.raises(ValueError, match=r"'synthesis.b4.conv1.affine' is fed another tensor than the generator's latents.*latent_space='w'"):
            sefa(G, layer=["synthesis.b4.conv1.affine"])
    G = panda_viz.load_generator(testvectors / "genforce-stylegan2" / "checkpoint.pth")
    with pytest.raises(ValueError, match=r"'synthesis.layer0.style' is fed another tensor than the generator's latents"):
        sefa(G, layer="synthesis.layer0.style")  # genforce's style affines read w; its latents are z
    G = panda_viz.load_generator(testvectors / "genforce-stylegan" / "checkpoint.pth")
    with pytest.raises(ValueError, match=r"'synthesis.output0' never runs in a forward pass"):
        sefa(G, layer="synthesis.output0")  # StyleGAN runs only its last RGB layer
