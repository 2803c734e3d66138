"""Saliency maps, thresholds μ_k, localisation and background removal (paper Sec. 4.1.2)."""

from __future__ import annotations

import pytest
import torch
from factors_helpers import LAYER, HandFactors, make_factors

from panda_viz.editing.saliency import (
    fill_images,
    localize,
    saliency_maps,
    saliency_thresholds,
)


def test_saliency_maps_are_the_change_of_basis(model, Z):
    m = saliency_maps(model, Z, [0, 5, 17])
    assert m.shape == (48, 3, 8, 8) and m.dtype == Z.dtype
    i, k, y, x = 7, 1, 3, 6
    assert torch.allclose(m[i, k, y, x], model.appearances_[:, 5] @ Z[i, :, y, x], atol=1e-5)
    full = saliency_maps(model, Z)
    assert full.shape == (48, 256, 8, 8)
    # A orthonormal and square: A m_i recovers Z_i (the change of basis is invertible)
    back = torch.einsum("ck,nkhw->nchw", model.appearances_, full)
    assert torch.allclose(back, Z, atol=1e-4)


def test_an_int_appearance_keeps_the_k_axis(model, Z):
    assert saliency_maps(model, Z, 4).shape == (48, 1, 8, 8)


def test_thresholds_are_the_mean_over_samples_and_positions(model, Z):
    mu = saliency_thresholds(model, Z, [0, 1, 2])
    direct = torch.stack([(model.appearances_[:, k] @ Z.flatten(2)).mean() for k in range(3)])
    assert mu.shape == (3,)
    assert torch.allclose(mu, direct, atol=1e-5)
    streamed = saliency_thresholds(model, iter([Z[:20], Z[20:33], Z[33:]]), [0, 1, 2])
    assert torch.allclose(streamed, mu, atol=1e-6)


def test_localize_thresholds_at_mu(model, Z):
    masks = localize(model, Z, [0, 3])
    m = saliency_maps(model, Z, [0, 3])
    mu = saliency_thresholds(model, Z, [0, 3])
    assert masks.dtype == torch.bool and masks.shape == (48, 2, 8, 8)
    assert torch.equal(masks, m >= mu[None, :, None, None])
    # the mean is inside the range: some positions on each side
    assert 0 < masks.float().mean() < 1


def test_localize_upsamples_to_image_size(model, Z):
    masks = localize(model, Z[:4], [0], size=64)
    assert masks.shape == (4, 1, 64, 64)
    assert localize(model, Z[:4], [0], size=(32, 16)).shape == (4, 1, 32, 16)


def test_saliency_maps_upsample_to_image_size(model, Z):
    small = saliency_maps(model, Z[:2], [0, 3])
    big = saliency_maps(model, Z[:2], [0, 3], size=64)
    assert big.shape == (2, 2, 64, 64)
    # bilinear upsampling by 8 keeps each map's mean (up to the border) and its range
    torch.testing.assert_close(big.mean((2, 3)), small.mean((2, 3)), rtol=0.05, atol=0.05)
    assert big.max() <= small.max() + 1e-5 and big.min() >= small.min() - 1e-5
    # thresholding the upsampled map is what localize does
    mu = saliency_thresholds(model, Z, [0])
    assert torch.equal(localize(model, Z[:2], [0], thresholds=mu, size=64), saliency_maps(model, Z[:2], [0], size=64) >= mu[0])


def test_threshold_above_the_max_gives_empty_masks(model, Z):
    m = saliency_maps(model, Z, [1])
    assert not localize(model, Z, [1], thresholds=m.max() + 1e-3, size=64).any()
    assert localize(model, Z, [1], thresholds=m.min() - 1e-3).all()


def test_background_removal_fills_only_the_concept(dcgan, model):
    z = dcgan.sample_latents(3, seed=11)
    images = dcgan.synthesize(z)
    out = fill_images(dcgan, z, model, 2, fill=1.0)
    mask = localize(model, dcgan.features(z, LAYER), [2], size=64)[:, 0]
    assert out.shape == images.shape
    assert torch.equal(out.permute(1, 0, 2, 3)[:, mask], torch.ones(3, int(mask.sum())))
    assert torch.equal(out.permute(1, 0, 2, 3)[:, ~mask], images.permute(1, 0, 2, 3)[:, ~mask])
    assert 0 < mask.float().mean() < 1


# ------------------------------------------------------------------------ bad input
def test_appearance_out_of_range(model, Z):
    with pytest.raises(IndexError, match=r"appearance index 256 out of range: the model has 256 appearances \(0 … 255\)"):
        saliency_maps(model, Z, [0, 256])
    with pytest.raises(IndexError, match="appearance index -1 out of range"):
        localize(model, Z, -1)


def test_appearances_of_the_wrong_kind(model, Z):
    with pytest.raises(ValueError, match="appearances must be an int or a non-empty sequence of ints; got"):
        saliency_maps(model, Z, [0.5])
    with pytest.raises(ValueError, match="non-empty sequence"):
        saliency_maps(model, Z, [])


def test_features_of_another_shape(model, dcgan):
    Z8 = dcgan.features(dcgan.sample_latents(2, seed=0), "main.8")
    with pytest.raises(ValueError, match=r"Z of shape \(N, 256, 8, 8\) expected \(the factors were fitted at layer 'main.5'\); got \(2, 128, 16, 16\)"):
        saliency_maps(model, Z8)
    with pytest.raises(ValueError, match=r"got \(256, 8, 8\)"):
        saliency_maps(model, torch.zeros(256, 8, 8))
    with pytest.raises(TypeError, match="Z must be a torch.Tensor"):
        saliency_maps(model, [[0.0]])


def test_unfitted_model(Z):
    with pytest.raises(ValueError, match="expected a fitted PandA model"):
        saliency_maps(object(), Z)


def test_thresholds_of_the_wrong_shape(model, Z):
    with pytest.raises(ValueError, match=r"thresholds must be a scalar or have one value per appearance \(2\); got shape \(3,\)"):
        localize(model, Z, [0, 1], thresholds=[0.0, 1.0, 2.0])


def test_empty_stream(model):
    with pytest.raises(ValueError, match="at least one batch"):
        saliency_thresholds(model, iter([]))


def test_bad_size_and_fill(model, Z, dcgan):
    with pytest.raises(ValueError, match=r"size must be an int or \(height, width\)"):
        localize(model, Z, 0, size=(0, 4))
    with pytest.raises(ValueError, match="fill must be one value or 3"):
        fill_images(dcgan, dcgan.sample_latents(1, seed=0), model, 0, fill=(1.0, 1.0))


def test_background_removal_refuses_another_layer(dcgan, Z):
    other = make_factors(Z)
    other.layer_ = "main.8"
    with pytest.raises(ValueError, match="the factors were fitted at layer 'main.8'; got layer='main.5'"):
        fill_images(dcgan, dcgan.sample_latents(1, seed=0), other, 0, layer="main.5")
    unlabelled = HandFactors(parts_=other.parts_, appearances_=other.appearances_, layer_=None)
    with pytest.raises(ValueError, match="does not record the layer"):
        fill_images(dcgan, dcgan.sample_latents(1, seed=0), unlabelled, 0)
