"""Image compositing helpers: exact values on hand-made arrays."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from panda_viz.imaging import render


def test_to_uint8_range_and_layout():
    x = torch.stack([torch.full((3, 2, 2), -1.0), torch.full((3, 2, 2), 1.0)])
    out = render.to_uint8(x)
    assert out.shape == (2, 2, 2, 3) and out.dtype == np.uint8
    assert out[0].max() == 0 and out[1].min() == 255
    with pytest.raises(ValueError, match=r"got \(2, 4, 2\)"):
        render.to_uint8(torch.zeros(2, 4, 2))


def test_normalize_maps_and_upsample():
    maps = np.array([[[0.0, 2.0], [4.0, 8.0]], [[1.0, 1.0], [1.0, 1.0]]])
    n = render.normalize_maps(maps)
    assert np.allclose(n[0], [[0, 0.25], [0.5, 1]]) and np.all(n[1] == 0)
    assert render.upsample(maps, 4).shape == (2, 4, 4)
    assert np.array_equal(render.upsample(np.eye(2), 4, mode="nearest")[:2, :2], np.ones((2, 2)))


def test_overlay_parts_and_toggle():
    image = np.zeros((4, 4, 3), np.uint8)
    parts = np.zeros((2, 2, 2))
    parts[0, 0, 0] = 1.0
    parts[1, 1, 1] = 1.0
    full = render.overlay_parts(image, parts, opacity=1.0)
    colours = (render.part_colors(2) * 255).round()
    assert np.allclose(full[0, 0], colours[0], atol=1)
    assert np.allclose(full[3, 3], colours[1], atol=1)
    hidden = render.overlay_parts(image, parts, opacity=1.0, visible=[True, False])
    assert np.array_equal(hidden[3, 3], [0, 0, 0])  # part 1 switched off
    assert np.array_equal(hidden[0, 0], full[0, 0])
    with pytest.raises(ValueError, match="one entry per part"):
        render.overlay_parts(image, parts, visible=[True])


def test_apply_mask_and_grid_and_png(tmp_path):
    image = np.full((2, 2, 3), 10, np.uint8)
    masked = render.apply_mask(image, np.array([[1, 0], [0, 1]]))
    assert masked[0, 0].tolist() == [10, 10, 10] and masked[0, 1].tolist() == [255, 255, 255]
    g = render.grid([image] * 3, ncols=2, pad=1)
    assert g.shape == (2 * 3 + 1, 2 * 3 + 1, 3)
    data = render.png_bytes(g, scale=3)
    assert Image.open(io.BytesIO(data)).size == (21, 21)
    path = render.save_png(g, tmp_path / "sub" / "g.png")
    assert path.read_bytes() == render.png_bytes(g)
    assert [p.name for p in path.parent.iterdir()] == ["g.png"]  # no temporary left behind


def test_heatmap_colours():
    hm = render.heatmap(np.array([[0.0, 1.0]]), cmap="gray")
    assert hm[0, 0].tolist() == [0, 0, 0] and hm[0, 1].tolist() == [255, 255, 255]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    from panda_viz.fileio.atomic import atomic_path

    target = tmp_path / "x.png"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("fail mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    import os
    import stat

    from panda_viz.fileio.atomic import atomic_path

    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    (tmp_path / "b.txt").write_text("x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.txt")


def test_difference_heatmap_scales_to_the_largest_change():
    a = np.zeros((2, 3, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (30, 60, 90)  # mean change 60 at one pixel
    hm = render.difference_heatmap(a, b)
    assert hm.shape == (2, 3, 3) and hm.dtype == np.uint8
    np.testing.assert_array_equal(hm[0, 0], render.heatmap(np.array([[1.0]]), vmin=0, vmax=1, cmap="magma")[0, 0])
    np.testing.assert_array_equal(hm[1, 2], render.heatmap(np.array([[0.0]]), vmin=0, vmax=1, cmap="magma")[0, 0])
    assert np.array_equal(render.difference_heatmap(a, a), render.heatmap(np.zeros((2, 3)), vmin=0, vmax=1, cmap="magma"))


def test_outline_region_colours_the_boundary_of_the_thresholded_region_only():
    image = np.zeros((6, 6, 3), np.uint8)
    region = np.zeros((6, 6))
    region[1:5, 2:5] = 1.0  # a 4×3 block
    out = render.outline_region(image, region, color=(1.0, 0.0, 0.0))
    drawn = (out == [255, 0, 0]).all(-1)
    expected = np.zeros((6, 6), bool)
    expected[1:5, 2:5] = True
    expected[2:4, 3] = False  # the interior stays as it was
    assert np.array_equal(drawn, expected) and not out[~drawn].any()
    assert not image.any()  # a copy
    full = render.outline_region(image, np.ones((3, 3)))  # the image's border is not a boundary
    assert not full.any()
    small = render.outline_region(np.zeros((8, 8, 3), np.uint8), np.eye(2))  # upsampled to the image
    assert small.shape == (8, 8, 3) and small.any()
    with pytest.raises(ValueError, match=r"a region \(h, w\) expected"):
        render.outline_region(image, np.ones((2, 2, 2)))
