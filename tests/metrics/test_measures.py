"""ROIR, SWD, FID and MSE maps on hand-made cases and on the embedded generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panda_viz.exceptions import WeightsNotInstalledError
from panda_viz.metrics.measures import (
    fid,
    frechet_distance,
    laplacian_pyramid,
    mse_maps,
    roir,
    swd,
)


def _box(h=16, w=16, y0=4, y1=8, x0=4, x1=12):
    m = torch.zeros(h, w)
    m[y0:y1, x0:x1] = 1
    return m


def test_roir_edit_inside_the_mask_is_zero():
    x = torch.zeros(3, 3, 16, 16)
    m = _box()
    y = x + torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * m
    r = roir(x, y, m)
    assert r.mean == 0 and r.std == 0 and r.n_unchanged == 0


def test_roir_uniform_change_gives_the_area_ratio():
    x = torch.zeros(2, 3, 16, 16)
    m = _box()  # 32 of 256 pixels
    r = roir(x, x + 0.5, m)
    expected = np.sqrt((256 - 32) / 32)
    assert r.mean == pytest.approx(expected) and r.std == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(r.values, expected)


def test_roir_soft_mask_and_per_sample_masks():
    x = torch.zeros(2, 1, 4, 4)
    soft = torch.full((4, 4), 0.25)  # M = 0.25, 1 - M = 0.75 everywhere
    assert roir(x, x + 1, soft).mean == pytest.approx(3.0)
    masks = torch.stack([_box(4, 4, 0, 2, 0, 4), _box(4, 4, 0, 1, 0, 4)])  # halves, then a quarter
    r = roir(x, x + 1, masks)
    np.testing.assert_allclose(r.values, [1.0, np.sqrt(3)])


def test_roir_reports_samples_whose_region_did_not_change():
    x = torch.zeros(3, 3, 16, 16)
    y = x.clone()
    y[0] += 1.0  # changes everything
    y[2, :, 0, 0] = 1.0  # changes one pixel outside the mask only
    with pytest.warns(RuntimeWarning, match=r"2 of 3 edits changed nothing inside the mask \(samples \[1, 2\]\)"):
        r = roir(x, y, _box())
    assert r.unchanged.tolist() == [1, 2]
    assert np.isnan(r.values[1]) and np.isnan(r.values[2])
    assert np.isfinite(r.mean) and r.mean == pytest.approx(np.sqrt(7))


def test_roir_bad_input():
    x = torch.zeros(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"mask of shape \(16, 16\), \(1, 16, 16\) or \(2, 16, 16\) expected .* got \(8, 8\)"):
        roir(x, x, torch.ones(8, 8))
    with pytest.raises(ValueError, match="mask is empty"):
        roir(x, x, torch.zeros(16, 16))
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        roir(x, x, -_box())
    with pytest.raises(ValueError, match="same shape"):
        roir(x, x[:1], _box())
    with pytest.raises(ValueError, match=r"images of shape \(N, C, H, W\) expected"):
        roir(x[0], x[0], _box())


def test_mse_maps():
    x = torch.zeros(2, 3, 8, 8)
    y = x.clone()
    y[1, 0, 2, 3] = 3.0
    m = mse_maps(x, y)
    assert m.shape == (2, 8, 8) and m.dtype == np.float32
    assert m[1, 2, 3] == pytest.approx(3.0) and m.sum() == pytest.approx(3.0)


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


@pytest.fixture(scope="module")
def faces(dcgan):
    return dcgan.synthesize(dcgan.sample_latents(64, seed=3))


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


def test_frechet_distance():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    # N(0, I) vs N(mu, 4I): |mu|^2 + 3 * (1 + 4 - 2*2)
    b = 2 * torch.randn(4000, 3, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert frechet_distance(a, b) == pytest.approx(1 + 3, rel=0.1)


def test_fid_with_a_feature_callable_and_without_weights(faces, monkeypatch, tmp_path):
    feats = lambda u8: u8.float().flatten(1)[:, ::1300]  # noqa: E731  (a stand-in detector)
    assert fid(faces, faces, detector=feats) == pytest.approx(0, abs=1e-4)
    monkeypatch.delenv("PANDA_VIZ_INCEPTION", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsNotInstalledError, match="never downloads"):
        fid(faces, faces)
    with pytest.raises(WeightsNotInstalledError, match="not found"):
        fid(faces, faces, detector=tmp_path / "missing.pt")
