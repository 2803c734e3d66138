"""ROIR (PandA Eq. 7) and MSE maps on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panda_viz.metrics import mse_maps, roir


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


def test_roir_atol_is_checked():
    x = torch.zeros(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"roir: atol must be a number in \[0.0, inf\]; got -1"):
        roir(x, x + 1, _box(), atol=-1)
