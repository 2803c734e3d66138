"""How far a photo is from the generator's images: generated samples pass, a gift box does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import cbook

from panda_viz.exceptions import InvalidInputError, InvalidTypeError
from panda_viz.imaging.photos import load_images
from panda_viz.inversion import typicality
from panda_viz.inversion.invert import invert

DATA = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).parent


@pytest.fixture(scope="module")
def space(dcgan):
    return typicality.image_space(dcgan)


def test_the_space_is_orthonormal_and_calibrated(space, dcgan):
    k = space.components.shape[1]
    assert k == 20 and space.side == 64 and space.generator_name == dcgan.name
    assert torch.allclose(space.components.T @ space.components, torch.eye(k, dtype=torch.float64), atol=1e-8)
    assert space.reference > 0


def test_generated_samples_are_near(space, dcgan):
    distances = typicality.distance_from_generator(space, dcgan.synthesize(dcgan.sample_latents(64, seed=4242)))
    assert distances.shape == (64,)
    assert float(distances.median()) < 0.8  # a typical sample is well inside
    assert int((distances > typicality.FAR_FROM_GENERATOR).sum()) <= 2  # 1 % are beyond by construction


def test_non_faces_are_far(space, dcgan):
    size = tuple(dcgan.image_shape[1:])
    gift = float(typicality.distance_from_generator(space, load_images(DATA / "Minduka_Present_Blue_Pack.png", size))[0])
    yy, xx = np.mgrid[:64, :64]
    board = (((yy // 8 + xx // 8) % 2) * 255).astype(np.uint8)[..., None].repeat(3, 2)
    checker = float(typicality.distance_from_generator(space, load_images(board, size))[0])
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    static = float(typicality.distance_from_generator(space, load_images(noise, size))[0])
    assert gift > 1.4 and checker > 3 and static > 1.5


def test_a_real_portrait_is_between(space, dcgan):
    """The DigiFace generator makes synthetic faces: a real portrait is beyond its samples, below a gift box."""
    size = tuple(dcgan.image_shape[1:])
    hopper = float(typicality.distance_from_generator(space, load_images(DATA / "grace_hopper.jpg", size,
                                                                         box=(80, 30, 450, 400)))[0])
    gift = float(typicality.distance_from_generator(space, load_images(DATA / "Minduka_Present_Blue_Pack.png", size))[0])
    assert 1.0 < hopper < gift


def test_an_inversion_is_measured_on_its_photo(space, dcgan):
    photo = DATA / "Minduka_Present_Blue_Pack.png"
    inversion = invert(dcgan, photo, n_starts=1, latent_steps=2, feature_steps=2, tune_steps=0, progress=False)
    direct = typicality.distance_from_generator(space, load_images(photo, tuple(dcgan.image_shape[1:])))
    assert torch.allclose(typicality.distance_from_generator(space, inversion), direct)


def test_bad_input(space, dcgan):
    with pytest.raises(InvalidTypeError, match="ImageSpace"):
        typicality.distance_from_generator("space", torch.zeros(1, 3, 64, 64))
    with pytest.raises(InvalidInputError, match=r"\(N, C, H, W\).*got \(3, 64, 64\)"):
        typicality.distance_from_generator(space, torch.zeros(3, 64, 64))
    with pytest.raises(InvalidInputError, match="3 channels expected"):
        typicality.distance_from_generator(space, torch.zeros(1, 1, 64, 64))
    with pytest.raises(InvalidTypeError, match="Generator expected"):
        typicality.image_space(object())
    with pytest.raises(InvalidInputError, match="n_components"):
        typicality.image_space(dcgan, n_samples=10, n_components=10)


def test_invert_warns_about_a_far_photo_when_given_the_space(space, dcgan):
    from panda_viz.exceptions import PhotoWarning
    from panda_viz.imaging import render

    quick = dict(n_starts=1, latent_steps=1, feature_steps=0, tune_steps=0, progress=False, image_space=space)
    with pytest.warns(PhotoWarning, match=r"far from what dcgan-digiface makes \(distance 1\.\d\d"):
        invert(dcgan, DATA / "Minduka_Present_Blue_Pack.png", **quick)
    sample = render.to_uint8(dcgan.synthesize(dcgan.sample_latents(1, seed=5)))[0]
    assert float(typicality.distance_from_generator(space, load_images(sample, (64, 64)))[0]) < 1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", PhotoWarning)
        invert(dcgan, sample, **quick)  # a generated image: no warning
    with pytest.raises(InvalidTypeError, match="image_space must be an ImageSpace"):
        invert(dcgan, sample, image_space="faces")
