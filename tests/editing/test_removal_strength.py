"""The removal's strength: a multiplier of the edit, on the real embedded generator."""

from __future__ import annotations

import itertools

import pytest
import torch

from panda_viz.editing.removal import (
    propose_background_appearance,
    removal_edit,
    remove_images,
)
from panda_viz.exceptions import InvalidInputError, InvalidTypeError, NonFiniteError


@pytest.fixture(scope="module")
def z(dcgan):
    return dcgan.sample_latents(3, seed=21)


@pytest.mark.parametrize("method", ["add", "replace"])
def test_strength_zero_is_the_identity(dcgan, model, z, Z, method):
    b = propose_background_appearance(model, Z)
    assert removal_edit(model, Z[:3], 0, b, strength=0.0, method=method).abs().max() == 0
    assert torch.equal(remove_images(dcgan, z, model, 0, b, strength=0.0, method=method), dcgan.synthesize(z))


@pytest.mark.parametrize("method", ["add", "replace"])
def test_strength_multiplies_the_edit_and_the_change_grows_with_it(dcgan, model, z, Z, method):
    b = propose_background_appearance(model, Z)
    one = removal_edit(model, Z[:3], 0, b, method=method)
    assert torch.allclose(removal_edit(model, Z[:3], 0, b, strength=2.5, method=method), 2.5 * one, atol=1e-6)
    original = dcgan.synthesize(z)
    change = [(remove_images(dcgan, z, model, 0, b, strength=s, method=method) - original).abs().mean().item()
              for s in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert change[0] == 0
    assert all(a < b_ for a, b_ in itertools.pairwise(change)), change


def test_bad_strength(model, Z):
    with pytest.raises(InvalidInputError, match=r"strength must be a number in \[0.0, inf\]; got -1"):
        removal_edit(model, Z[:1], 0, 1, strength=-1.0)
    with pytest.raises(InvalidTypeError, match="strength"):
        removal_edit(model, Z[:1], 0, 1, strength="strong")
    with pytest.raises(NonFiniteError, match="strength"):
        removal_edit(model, Z[:1], 0, 1, strength=float("nan"))
