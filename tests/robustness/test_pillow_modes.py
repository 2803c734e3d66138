"""Every Pillow mode that holds an image, read by load_images: in memory and round-tripped through a file.

Each expected image is computed here independently of panda_viz (palettes looked up,
alpha composited over white by hand, 16-bit values divided by 65535, LAB through
LittleCMS), at the image's own size so no resizing blurs the comparison.
"""

from __future__ import annotations

import colorsys
import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from panda_viz.exceptions import NonFiniteError
from panda_viz.imaging.photos import load_images

SIDE = 16
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
ALPHA[0, :4] = (0, 255, 1, 254)  # fully transparent and opaque pixels among them
GREY = RNG.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
DEEP = RNG.integers(0, 65536, (SIDE, SIDE), dtype=np.uint16)
DEEP[0, :2] = (0, 65535)


def _load(image) -> np.ndarray:
    """load_images at the image's own size, as (H, W, 3) in [0, 1]."""
    return ((load_images(image, SIDE)[0].permute(1, 2, 0).double() + 1) / 2).numpy()


def _over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    colour = colour.astype(np.float64) / 255
    a = alpha.astype(np.float64)[..., None] / 255
    out = colour * a + (1 - a)
    return np.repeat(out, 3, axis=-1) if out.shape[-1] == 1 else out


def _grey(values: np.ndarray, scale: float) -> np.ndarray:
    return np.repeat(np.clip(values.astype(np.float64) / scale, 0, 1)[..., None], 3, axis=-1)


def _palette_image(transparency=None) -> tuple[Image.Image, np.ndarray]:
    image = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    palette = np.array(image.getpalette()[: 3 * 32], dtype=np.uint8).reshape(-1, 3)
    colours = palette[np.asarray(image)]
    if transparency is not None:
        image.info["transparency"] = transparency
    return image, colours


def _cases() -> dict[str, tuple[Image.Image, np.ndarray, float]]:
    """mode name -> (image, expected (H, W, 3) in [0, 1], tolerance)."""
    cases = {}
    cases["1"] = (Image.fromarray(GREY > 127), _grey((GREY > 127).astype(np.uint8), 1), 0)
    cases["L"] = (Image.fromarray(GREY, "L"), _grey(GREY, 255), 1e-6)
    cases["LA"] = (Image.fromarray(np.dstack([GREY, ALPHA]), "LA"), _over_white(GREY[..., None], ALPHA), 1e-6)
    premultiplied = np.round(GREY.astype(np.float64) * ALPHA / 255).astype(np.uint8)
    cases["La"] = (Image.frombytes("La", (SIDE, SIDE), np.dstack([premultiplied, ALPHA]).tobytes()),
                   np.repeat((premultiplied / 255 + 1 - ALPHA / 255)[..., None], 3, axis=-1), 1e-6)
    palette, colours = _palette_image()
    cases["P"] = (palette, colours / 255, 1e-6)
    index = int(np.asarray(palette)[0, 0])
    transparent, colours = _palette_image(transparency=index)
    expected = colours / 255
    expected[np.asarray(transparent) == index] = 1.0
    cases["P+transparency"] = (transparent, expected, 1e-6)
    pa = palette.convert("PA")
    pa.putalpha(Image.fromarray(ALPHA))
    cases["PA"] = (pa, _over_white(colours, ALPHA), 1e-6)
    cases["RGB"] = (Image.fromarray(RGB), RGB / 255, 1e-6)
    cases["RGBA"] = (Image.fromarray(np.dstack([RGB, ALPHA]), "RGBA"), _over_white(RGB, ALPHA), 1e-6)
    premultiplied = np.round(RGB.astype(np.float64) * ALPHA[..., None] / 255).astype(np.uint8)
    cases["RGBa"] = (Image.frombytes("RGBa", (SIDE, SIDE), np.dstack([premultiplied, ALPHA]).tobytes()),
                     premultiplied / 255 + 1 - ALPHA[..., None] / 255, 1e-6)
    cases["CMYK"] = (Image.fromarray(RGB).convert("CMYK"), RGB / 255, 1e-6)  # Pillow's naive CMYK is exact both ways
    ycbcr = Image.fromarray(RGB).convert("YCbCr")
    cases["YCbCr"] = (ycbcr, RGB / 255, 3 / 255)  # 8-bit YCbCr rounds
    hsv = Image.fromarray(RGB).convert("HSV")
    by_hand = np.array([colorsys.hsv_to_rgb(*(np.asarray(hsv)[i, j] / 255)) for i in range(SIDE) for j in range(SIDE)])
    cases["HSV"] = (hsv, by_hand.reshape(SIDE, SIDE, 3), 1.5 / 255)
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    from_lab = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
    lab = ImageCms.applyTransform(Image.fromarray(RGB), to_lab)
    cases["LAB"] = (lab, np.asarray(ImageCms.applyTransform(lab, from_lab)) / 255, 1.5 / 255)
    cases["I 16-bit"] = (Image.fromarray(DEEP.astype(np.int32), "I"), _grey(DEEP, 65535), 1e-6)
    cases["I 8-bit"] = (Image.fromarray(GREY).convert("I"), _grey(GREY, 255), 1e-6)
    for mode, dtype in (("I;16", "<u2"), ("I;16L", "<u2"), ("I;16B", ">u2"), ("I;16N", "=u2")):
        cases[mode] = (Image.frombytes(mode, (SIDE, SIDE), DEEP.astype(dtype).tobytes()), _grey(DEEP, 65535), 1e-6)
    unit = GREY.astype(np.float32) / 255
    cases["F in [0, 1]"] = (Image.fromarray(unit, "F"), _grey(unit, 1), 1e-6)
    cases["F 0-255"] = (Image.fromarray(GREY).convert("F"), _grey(GREY, 255), 1e-6)
    grey_t = Image.fromarray(GREY, "L")
    grey_t.info["transparency"] = int(GREY[0, 0])
    expected = _grey(GREY, 255)
    expected[GREY == GREY[0, 0]] = 1.0
    cases["L+transparency"] = (grey_t, expected, 1e-6)
    rgb_t = Image.fromarray(RGB)
    rgb_t.info["transparency"] = tuple(int(v) for v in RGB[0, 0])
    expected = RGB / 255
    expected[(RGB == RGB[0, 0]).all(-1)] = 1.0
    cases["RGB+transparency"] = (rgb_t, expected, 1e-6)
    deep_t = Image.frombytes("I;16", (SIDE, SIDE), DEEP.astype("<u2").tobytes())
    deep_t.info["transparency"] = int(DEEP[0, 0])
    expected = _grey(DEEP, 65535)
    expected[DEEP == DEEP[0, 0]] = 1.0
    cases["I;16+transparency"] = (deep_t, expected, 1e-6)
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_mode_in_memory(name):
    image, expected, tolerance = CASES[name]
    np.testing.assert_allclose(_load(image), expected, atol=tolerance + 1e-6, rtol=0)


# (mode case, format) pairs whose format keeps the mode; the file read back must give what the image gave
FILES = [("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("P+transparency", "PNG"), ("RGB", "PNG"),
         ("RGBA", "PNG"), ("I;16", "PNG"), ("L+transparency", "PNG"), ("RGB+transparency", "PNG"),
         ("CMYK", "TIFF"), ("YCbCr", "TIFF"), ("LAB", "TIFF"), ("I 16-bit", "TIFF"), ("I;16B", "TIFF"),
         ("F in [0, 1]", "TIFF"), ("F 0-255", "TIFF"), ("LA", "TIFF"), ("RGBA", "TIFF"), ("P+transparency", "GIF"),
         ("L", "BMP"), ("RGBA", "TGA"), ("CMYK", "JPEG"), ("L", "JPEG")]


@pytest.mark.parametrize(("name", "format"), FILES)
def test_every_mode_round_trips_through_a_file(tmp_path, name, format):
    image, expected, tolerance = CASES[name]
    path = tmp_path / f"image.{format.lower()}"
    options = {"quality": 100} if format == "JPEG" else {}
    if "transparency" in image.info:
        options["transparency"] = image.info["transparency"]
    image.save(path, format, **options)
    with Image.open(path) as reopened:
        reopened.load()
        mode = reopened.mode
        from_memory = _load(reopened.copy())
    from_file = _load(path)
    np.testing.assert_array_equal(from_file, from_memory)
    if format != "JPEG":  # a lossless format gives back the image itself
        assert mode == image.mode or (image.mode, mode) in {("I;16", "I")}, (image.mode, mode)
        np.testing.assert_allclose(from_file, expected, atol=tolerance + 1e-6, rtol=0)
    else:
        np.testing.assert_allclose(from_file, expected, atol=12 / 255, rtol=0)
    assert np.all((0 <= from_file) & (from_file <= 1))


def test_the_bytes_of_a_file_read_as_the_file(tmp_path):
    image, _expected, _tolerance = CASES["RGBA"]
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    (tmp_path / "a.png").write_bytes(buffer.getvalue())
    assert torch.equal(load_images(buffer.getvalue(), SIDE), load_images(tmp_path / "a.png", SIDE))


def test_a_float_image_with_nan_is_refused():
    values = np.full((SIDE, SIDE), 0.5, np.float32)
    values[3, 4] = np.nan
    with pytest.raises(NonFiniteError, match=r"images: the float \('F'\) image has NaN or infinite values"):
        load_images(Image.fromarray(values, "F"), SIDE)
