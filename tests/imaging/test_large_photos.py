"""Large photos: block averaging, draft JPEG decoding and EXIF orientation on the crop only, against plain reads.

The plain read is what ``load_images`` did for every image before it decoded within a budget:
the whole image to floats, cropped, one antialiased bicubic resize.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib import cbook
from PIL import Image, ImageOps

from panda_viz.imaging.decoding import stored_box, turn_upright
from panda_viz.imaging.photos import Crop, crop_notes, load_images, photo_batch
from panda_viz.imaging.sources import LARGE_IMAGE_PIXELS, banded, reduction_factor

PHOTO = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


@pytest.fixture(scope="module")
def large() -> Image.Image:
    """The portrait upscaled to 2,400 × 2,800 (6.7 megapixels, past LARGE_IMAGE_PIXELS)."""
    with Image.open(PHOTO) as image:
        big = image.convert("RGB").resize((2400, 2800), Image.Resampling.BICUBIC)
    assert big.width * big.height > LARGE_IMAGE_PIXELS
    return big


def _plain(image: Image.Image, box, size) -> torch.Tensor:
    rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    left, top, right, bottom = box
    crop = rgb[:, top:bottom, left:right][None]
    return F.interpolate(crop, size=size, mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1) * 2 - 1


def test_the_reduction_factor_leaves_at_least_twice_the_output():
    assert reduction_factor((2048, 2048), (64, 64)) == 1  # not large: read whole
    assert reduction_factor((2400, 2400), (64, 64)) == 18  # 2400 / 18 = 133 ≥ 128
    assert reduction_factor((2400, 2400), (1024, 1024)) == 1
    assert reduction_factor((6324, 6324), (1024, 1024)) == 3


def test_banded_block_means_are_exact_on_an_uneven_grid():
    x = torch.rand(3, 23, 31, generator=torch.Generator().manual_seed(0))
    got = banded(lambda y0, y1: x[:, y0:y1], 23, 31, 4)
    rows, cols = np.arange(6) * 23 // 5, np.arange(8) * 31 // 7  # blocks of 4 or 5 pixels
    expected = torch.stack([torch.stack([x[:, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].mean((1, 2)) for j in range(7)], -1)
                            for i in range(5)], 1)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    assert torch.equal(banded(lambda y0, y1: x[:, y0:y1], 23, 31, 1), x)


@pytest.mark.parametrize("size", [64, 256])
def test_a_large_image_is_close_to_the_plain_read(large, size):
    box = (0, 200, 2400, 2600)
    ours = load_images(large, size, box=box)[0]
    plain = _plain(large, box, (size, size))
    difference = (ours - plain).abs()
    assert float(difference.mean()) < 0.01 and float(difference.max()) < 0.2
    # every source type takes the same path: the same floats
    array = np.array(large)
    assert torch.equal(load_images(array, size, box=box)[0], ours)
    tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous()
    assert torch.equal(load_images(tensor, size, box=box)[0], ours)


def test_a_large_jpeg_is_decoded_reduced_and_stays_close(large, tmp_path):
    path = tmp_path / "large.jpg"
    large.save(path, quality=95)
    box = (300, 500, 2100, 2300)
    with Image.open(path) as opened:
        opened.load()
        whole = load_images(opened.copy(), 64, box=box)[0]  # a caller's image: never drafted
    drafted = load_images(path, 64, box=box)[0]
    assert not torch.equal(drafted, whole)
    difference = (drafted - whole).abs()
    assert float(difference.mean()) < 0.005 and float(difference.max()) < 0.05


@pytest.mark.parametrize("turn", range(1, 9))
def test_only_the_crop_is_turned_upright_as_exif_transpose_would(turn):
    rng = np.random.default_rng(turn)
    stored = Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    upright = stored.transpose({2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}[turn]) if turn != 1 else stored
    box = (3, 5, 17, 26)  # left, top, right, bottom of the upright image, off-centre and not square
    crop = turn_upright(stored.crop(stored_box(box, turn, stored.size)), turn)
    assert np.array_equal(np.asarray(crop), np.asarray(upright.crop(box)))
    # and through a file with that EXIF orientation
    exif = Image.Exif()
    exif[0x0112] = turn

    buffer = io.BytesIO()
    stored.save(buffer, "PNG", exif=exif)
    with Image.open(io.BytesIO(buffer.getvalue())) as reopened:
        expected = load_images(ImageOps.exif_transpose(reopened), (21, 14), box=box)
    assert torch.equal(load_images(buffer.getvalue(), (21, 14), box=box), expected)


def test_the_crops_are_recorded():
    image = np.zeros((300, 20, 3), np.uint8)
    batch = photo_batch([image, np.zeros((64, 200, 3), np.uint8)], 64, box=[None, (0, 0, 100, 64)])
    first, second = batch.crops
    assert first == Crop(image_size=(300, 20), box=(0, 140, 20, 160), size=(64, 64), centred=True)
    assert first.scale == (3.2, 3.2) and first.kept == pytest.approx(20 / 300)
    notes = crop_notes(first)
    assert len(notes) == 2 and notes[0].startswith("upscaled 3.2×") and "keeps 7% of the image" in notes[1]
    assert second.scale == (1.0, 0.64) and not second.centred
    assert crop_notes(second) == ["stretched 1.6× more vertically than horizontally (the box's aspect ratio is not the output's)"]
    assert crop_notes(Crop(image_size=(512, 600), box=(0, 44, 512, 556), size=(64, 64), centred=True)) == []
