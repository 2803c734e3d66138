"""The removal difference, the mask image and the frame: exact values on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from panda_viz.imaging import render


def test_amplified_difference_is_on_a_fixed_scale():
    original = np.full((4, 4, 3), 100, np.uint8)
    edited = original.copy()
    edited[0, 0] = 104                      # 4 levels
    edited[1, 1] = 200                      # 100 levels: saturates at gain 8 (255 / 8 ≈ 32)
    out = render.amplified_difference(original, edited, gain=8)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    black, top = render.heatmap(np.array([[0.0, 1.0]]), cmap="magma", vmin=0, vmax=1)[0]
    assert (out[2:, 2:] == black).all()     # no change is black
    assert (out[1, 1] == top).all()
    expected = render.heatmap(np.array([[32.0]]), cmap="magma", vmin=0, vmax=255)[0, 0]
    assert (out[0, 0] == expected).all()    # 4 × 8 = 32 of 255, whatever the largest change
    assert not (render.amplified_difference(original, edited, gain=1)[0, 0] == expected).all()
    with pytest.raises(ValueError, match=r"one shape expected; got \(4, 4, 3\) and \(2, 2, 3\)"):
        render.amplified_difference(original, edited[:2, :2])
    with pytest.raises(ValueError, match="gain"):
        render.amplified_difference(original, edited, gain=0)


def test_mask_image_colours_the_mask_on_the_page_colour():
    mask = np.zeros((3, 5), bool)
    mask[1, 2:] = True
    out = render.mask_image(mask)
    assert out.shape == (3, 5, 3) and out.dtype == np.uint8
    assert (out[1, 2:] == (31, 119, 180)).all() and (out[0] == 255).all() and (out[1, :2] == 255).all()
    assert (render.mask_image(mask, color=(0, 0, 0), background=(9, 9, 9))[0] == 9).all()
    with pytest.raises(ValueError, match=r"\(H, W\) expected; got \(1, 3, 5\)"):
        render.mask_image(mask[None])


def test_framed_adds_a_border_around_the_whole_image():
    image = np.full((3, 4, 3), 255, np.uint8)
    out = render.framed(image, width=2, color=(1, 2, 3))
    assert out.shape == (7, 8, 3)
    assert np.array_equal(out[2:-2, 2:-2], image)           # nothing of the image covered
    border = np.ones(out.shape[:2], bool)
    border[2:-2, 2:-2] = False
    assert (out[border] == (1, 2, 3)).all()
    with pytest.raises(ValueError, match="width"):
        render.framed(image, width=0)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) expected; got \(3, 4\)"):
        render.framed(image[..., 0])
