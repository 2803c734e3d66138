"""panda_viz.imaging.photos: every accepted source and mode, crops, resizing, and every refusal."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image, ImageOps

from panda_viz.exceptions import (
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
)
from panda_viz.imaging.photos import MIN_IMAGE_SIDE, centre_box, load_image, load_images

PHOTO = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)  # a real portrait, 512×600


def test_path_gives_a_batch_in_range():
    x = load_images(PHOTO, 64)
    assert x.shape == (1, 3, 64, 64) and x.dtype == torch.float32
    assert -1 <= float(x.min()) and float(x.max()) <= 1
    assert float(x.std()) > 0.1  # a real picture, not a constant


def test_centre_crop_is_the_largest_centred_square():
    assert centre_box(600, 512) == (0, 44, 512, 556)
    assert centre_box(10, 30) == (10, 0, 20, 10)
    with Image.open(PHOTO) as image:
        by_hand = load_images(image.crop((0, 44, 512, 556)), 64)
    assert torch.equal(load_images(PHOTO, 64), by_hand)


def test_box_crops_before_resizing():
    array = np.zeros((40, 60, 3), np.uint8)
    array[10:30, 20:40] = 255  # a white square
    x = load_images(array, 20, box=(20, 10, 40, 30))
    assert torch.equal(x, torch.ones(1, 3, 20, 20))
    # a non-square box is stretched to the size
    assert load_images(array, (8, 16), box=(0, 0, 60, 40)).shape == (1, 3, 8, 16)


def test_no_resize_when_the_crop_has_the_size():
    array = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    x = load_images(array, 16)
    assert torch.equal(x[0], torch.from_numpy(array).permute(2, 0, 1).float() / 255 * 2 - 1)


def test_rgba_is_composited_over_white():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half, opaque on the right
    rgba[:, 8:, 3] = 255
    x = load_images(Image.fromarray(rgba, "RGBA"), 16)[0]
    assert torch.equal(x[:, :, :8], torch.ones(3, 16, 8))
    assert torch.equal(x[:, :, 8:], torch.tensor([1.0, -1.0, -1.0])[:, None, None].expand(3, 16, 8))
    # the same as a NumPy RGBA array
    assert torch.equal(load_images(rgba, 16)[0], x)


def test_greyscale_and_16_bit():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    x = load_images(Image.fromarray(grey, "L"), 16)[0]
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert float(x.min()) == -1 and float(x.max()) == 1
    deep = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)  # 0 … 65535
    pil16 = Image.fromarray(deep)
    assert pil16.mode.startswith("I")
    x16 = load_images(pil16, 16)[0]
    assert float(x16.max()) == 1 and float(x16.min()) == -1  # not clipped at 255
    torch.testing.assert_close(x16, x, atol=1e-6, rtol=0)
    torch.testing.assert_close(load_images(deep, 16)[0], x, atol=1e-6, rtol=0)


def test_exif_rotation_is_applied(tmp_path):
    array = np.zeros((20, 40, 3), np.uint8)  # stored landscape: red left, blue right
    array[:, :20, 0] = 255
    array[:, 20:, 2] = 255
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    with Image.open(path) as opened:
        upright = ImageOps.exif_transpose(opened)
        assert upright.size == (20, 40)
        expected = load_images(upright.copy(), 16, box=(0, 0, 20, 40))
    got = load_images(path, 16, box=(0, 0, 20, 40))  # a portrait box fits the upright photo only
    assert torch.equal(got, expected)
    with pytest.raises(InvalidInputError, match=r"not inside the 20×40 image"):
        load_images(path, 16, box=(0, 0, 40, 20))


def test_numpy_dtypes_and_batches():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    x = load_images(u8, 16)
    assert x.shape == (2, 3, 16, 16)
    torch.testing.assert_close(load_images(u8.astype(np.float64) / 255, 16), x)
    torch.testing.assert_close(load_images(u8.astype(np.uint16) * 257, 16), x)
    mask = u8[0, ..., 0] > 127
    assert set(load_images(mask, 16).unique().tolist()) <= {-1.0, 1.0}


def test_tensors_use_the_generators_range(dcgan):
    images = dcgan.synthesize(dcgan.sample_latents(2, seed=0))
    torch.testing.assert_close(load_images(images, 64), images, atol=1e-6, rtol=0)
    torch.testing.assert_close(load_images(images[0], 64), images[:1], atol=1e-6, rtol=0)
    as_uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
    torch.testing.assert_close(load_images(as_uint8, 64), images, atol=1 / 127.5, rtol=0)


def test_lists_of_mixed_sources_and_sizes_and_per_image_boxes():
    with Image.open(PHOTO) as photo:
        photo.load()
        small = np.full((30, 50, 3), 128, np.uint8)
        x = load_images([PHOTO, photo, small], 32, box=[None, (100, 100, 300, 300), None])
    assert x.shape == (3, 3, 32, 32)
    assert torch.equal(x[0], load_images(PHOTO, 32)[0])
    assert not torch.equal(x[1], x[0])
    assert load_image(PHOTO, 32).shape == (3, 32, 32)
    buffer = io.BytesIO()
    Image.fromarray(small).save(buffer, format="PNG")
    assert torch.equal(load_images(buffer.getvalue(), 32), load_images(small, 32))


def test_device_and_dtype():
    x = load_images(PHOTO, 8, dtype=torch.float64)
    assert x.dtype == torch.float64 and x.device.type == "cpu"


@pytest.mark.parametrize(
    "images, kwargs, error, match",
    [
        (np.zeros((0, 16, 3), np.uint8), {}, InvalidInputError, "empty"),
        (torch.empty(0, 3, 8, 8), {}, InvalidInputError, "empty"),
        ([], {}, InvalidInputError, "at least one image"),
        (np.full((16, 16, 3), np.nan), {}, NonFiniteError, "NaN"),
        (torch.full((3, 16, 16), float("nan")), {}, NonFiniteError, "NaN"),
        (np.zeros((4, 4, 3), np.uint8), {}, InvalidInputError, rf"4×4 pixels; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE}"),
        (np.zeros((16, 16, 3), np.uint8), {"box": (0, 0, 20, 16)}, InvalidInputError, "not inside the 16×16 image"),
        (np.zeros((16, 16, 3), np.uint8), {"box": (-1, 0, 8, 8)}, InvalidInputError, "not inside"),
        (np.zeros((16, 16, 3), np.uint8), {"box": (8, 0, 4, 8)}, InvalidInputError, "not inside .* or is empty"),
        (np.zeros((16, 16, 3), np.uint8), {"box": (0, 0, 4, 16)}, InvalidInputError, "4×16 pixels; at least"),
        (np.zeros((16, 16, 3), np.uint8), {"box": (0, 0, 8)}, InvalidInputError, "4 finite numbers"),
        (np.zeros((16, 16, 3), np.uint8), {"box": "left"}, InvalidInputError, r"box must be"),
        ([np.zeros((16, 16, 3), np.uint8)] * 2, {"box": [(0, 0, 8, 8)] * 3}, InvalidInputError, "one per image"),
        (np.zeros((16, 16, 2), np.uint8), {}, InvalidInputError, "C in 1, 3, 4"),
        (np.zeros((16, 16, 3), np.int32), {}, InvalidInputError, "uint8, uint16, bool or float"),
        (np.full((16, 16, 3), 2.0), {}, InvalidInputError, r"values in \[0, 1\]; got values in \[2, 2\]"),
        (torch.full((3, 16, 16), 3.0), {}, InvalidInputError, r"values in \[-1, 1\]"),
        (torch.zeros(2, 16, 16), {}, InvalidInputError, "C in 1, 3, 4"),
        (42, {}, InvalidTypeError, "got int"),
        (b"not an image", {}, InvalidInputError, "bytes are not an image"),
    ],
)
def test_bad_images_are_refused(images, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_images(images, 16, **kwargs)


def test_bad_files(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(InvalidFileError, match="not an image file") as info:
        load_images(text, 16)
    assert info.value.path == text
    with pytest.raises(FileNotFoundError, match="no image file"):
        load_images(tmp_path / "missing.png", 16)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(open(PHOTO, "rb").read()[:2000])
    with pytest.raises(InvalidFileError, match="cannot be read"):
        load_images(truncated, 16)


@pytest.mark.parametrize("size", [0, (16,), "big", (16, -1)])
def test_bad_sizes(size):
    with pytest.raises(InvalidInputError, match="size must be"):
        load_images(np.zeros((16, 16, 3), np.uint8), size)
