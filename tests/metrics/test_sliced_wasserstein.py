"""ProGAN's SWD: its Laplacian pyramid against a reference, and the distance on the embedded generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panda_viz.metrics import laplacian_pyramid, swd


def test_laplacian_pyramid_matches_progan_reference():
    """ProGAN's numpy pyramid (scipy.ndimage.convolve, mode='mirror'), recomputed here."""
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    g = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256.0
    down = lambda m: scipy_ndimage.convolve(m, g[None, None], mode="mirror")[:, :, ::2, ::2]  # noqa: E731

    def up(m):
        r = np.zeros((*m.shape[:2], m.shape[2] * 2, m.shape[3] * 2), m.dtype)
        r[:, :, ::2, ::2] = m
        return scipy_ndimage.convolve(r, g[None, None] * 4.0, mode="mirror")

    x = np.random.default_rng(0).uniform(0, 255, size=(2, 3, 32, 32)).astype(np.float32)
    ref = [x.copy()]
    for _ in range(2):
        ref.append(down(ref[-1]))
        ref[-2] = ref[-2] - up(ref[-1])
    for a, b in zip(ref, laplacian_pyramid(torch.from_numpy(x), 3)):
        np.testing.assert_allclose(b.numpy(), a, atol=2e-3)


def test_swd_of_a_set_with_itself_is_zero_and_grows_with_a_shift(faces):
    kw = dict(descriptors_per_image=16, dirs_per_repeat=64, random_state=0)
    same = swd(faces, faces, **kw)
    assert same.mean == pytest.approx(0, abs=1e-6) and list(same.levels) == [64, 32, 16]
    small = swd(faces, faces.roll(1, dims=-1), **kw).mean
    large = swd(faces, faces.roll(4, dims=-1), **kw).mean
    assert 0 < small < large


def test_swd_is_seeded_and_checks_shapes(faces):
    kw = dict(descriptors_per_image=8, dirs_per_repeat=32)
    a = swd(faces[:32], faces[32:], random_state=1, **kw).mean
    assert a == swd(faces[:32], faces[32:], random_state=1, **kw).mean
    with pytest.raises(ValueError, match="same shape"):
        swd(faces[:32], faces[:16])
    with pytest.raises(ValueError, match="below min_resolution"):
        swd(faces[:, :, :8, :8], faces[:, :, :8, :8])


def test_swd_checks_its_arguments_up_front(faces):
    with pytest.raises(ValueError, match="descriptor_size must be odd"):
        swd(faces, faces, descriptor_size=6)
    with pytest.raises(ValueError, match=r"swd: dirs_per_repeat must be an int in \[1, inf\]; got 0"):
        swd(faces, faces, dirs_per_repeat=0)
    with pytest.raises(TypeError, match="swd: random_state must be None, an int >= 0 or a torch.Generator"):
        swd(faces, faces, random_state="x")
    with pytest.raises(ValueError, match=r"swd: value_range\[1\] must be a number in \(1.0, inf\]; got 1"):
        swd(faces, faces, value_range=(1, 1))
    g = torch.Generator().manual_seed(5)
    kw = dict(descriptors_per_image=8, dirs_per_repeat=16)
    assert swd(faces, faces.flip(-1), random_state=g, **kw).mean == swd(faces, faces.flip(-1), random_state=5, **kw).mean
