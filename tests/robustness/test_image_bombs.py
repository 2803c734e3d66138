"""Image files crafted to blow memory or break the decoder, read in a capped child process.

Each load runs under :func:`run_bounded` (at most 500 MB above the interpreter's own address
space, 20 s). A refusal must be a panda_viz error naming the file (or the bytes), the
declared size and the limit, and the child's peak resident memory must stay under 500 MB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .bounded import run_bounded
from .crafted_images import (
    bmp_header,
    compressible_png,
    gif_header,
    jpeg_header,
    png_header,
)

PEAK_MB = 500
SECONDS = 20

# headers claiming 0.1 - 10 gigapixels: past panda_viz's 64-megapixel budget, most past Pillow's own limit too
HEADERS = {
    "png-10-gigapixels.png": png_header(100_000, 100_000),
    "png-100-megapixels.png": png_header(10_000, 10_000),
    "bmp-0.9-gigapixels.bmp": bmp_header(30_000, 30_000),
    "bmp-100-megapixels.bmp": bmp_header(10_000, 10_000),
    "gif-4.3-gigapixels.gif": gif_header(65_535, 65_535),
    "gif-81-megapixels.gif": gif_header(9_000, 9_000),
    "jpeg-4.2-gigapixels.jpg": jpeg_header(65_000, 65_000),
    "jpeg-81-megapixels.jpg": jpeg_header(9_000, 9_000),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("image-bombs")
    for name, data in HEADERS.items():
        (folder / name).write_bytes(data)
    compressible_png(folder / "compressible-12000.png", 12_000, 12_000, colour_type=2)
    return folder


def _bounded(snippet: str):
    outcome = run_bounded(snippet, memory_mb=PEAK_MB, timeout_s=SECONDS)
    assert outcome.peak_rss_mb < PEAK_MB, outcome
    assert outcome.seconds < SECONDS, outcome
    return outcome


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_a_header_claiming_a_huge_image_is_refused_undecoded(folder, name):
    path = folder / name
    outcome = _bounded(f"from panda_viz import load_images\nload_images({str(path)!r}, 64)")
    assert outcome.error_type == "FileLimitError", outcome
    assert "InvalidFileError" in outcome.error_mro and "ValueError" in outcome.error_mro
    assert str(path) in outcome.error_message
    assert "pixels" in outcome.error_message and "max_pixels=" in outcome.error_message


@pytest.mark.parametrize("name", ["png-10-gigapixels.png", "gif-81-megapixels.gif"])
def test_the_same_bytes_are_refused_as_bytes(folder, name):
    outcome = _bounded(f"from panda_viz import load_images\nload_images(open({str(folder / name)!r}, 'rb').read(), 64)")
    assert outcome.error_type == "ResourceLimitError", outcome
    assert outcome.error_message.startswith("images: the image declares") and "max_pixels=" in outcome.error_message


def test_the_12000_pixel_png_is_a_small_file_refused_from_its_header(folder):
    path = folder / "compressible-12000.png"
    assert path.stat().st_size < 1_000_000  # 432 MB of pixels
    outcome = _bounded(f"from panda_viz import load_images\nload_images({str(path)!r}, 64)")
    assert outcome.error_type == "FileLimitError", outcome
    assert "declares 12,000 × 12,000 pixels (144.0 megapixels); the limit is 64,000,000 pixels" in outcome.error_message


def test_invert_refuses_it_before_any_work(folder):
    path = folder / "compressible-12000.png"
    outcome = _bounded(
        "import panda_viz\n"
        f"panda_viz.invert(panda_viz.load_generator('dcgan-digiface'), {str(path)!r}, progress=False)"
    )
    assert outcome.error_type == "FileLimitError" and str(path) in outcome.error_message, outcome


def test_a_large_compressible_png_within_the_budget_decodes_in_bounded_memory(tmp_path):
    path = compressible_png(tmp_path / "grey-62-megapixels.png", 7_900, 7_900, colour_type=0)
    outcome = _bounded(
        "from panda_viz import load_images\n"
        f"x = load_images({str(path)!r}, 64)\n"
        "RESULT = [list(x.shape), float(x.min()), float(x.max())]"
    )
    assert outcome.error_type is None, outcome
    shape, low, high = outcome.result
    assert shape == [1, 3, 64, 64] and abs(low - (128 / 255 * 2 - 1)) < 1e-4 and abs(high - low) < 1e-4


def test_raising_max_pixels_lets_a_larger_image_through(folder):
    path = folder / "compressible-12000.png"
    outcome = run_bounded(
        "from panda_viz import load_images\n"
        f"x = load_images({str(path)!r}, 64, max_pixels=150_000_000)\n"
        "RESULT = list(x.shape)", memory_mb=1500, timeout_s=60)
    assert outcome.error_type is None and outcome.result == [1, 3, 64, 64], outcome


def test_a_header_within_the_budget_but_no_data_is_a_truncated_file(tmp_path):
    path = tmp_path / "truncated-62-megapixels.png"
    path.write_bytes(png_header(7_900, 7_900))
    outcome = _bounded(f"from panda_viz import load_images\nload_images({str(path)!r}, 64)")
    assert outcome.error_type == "InvalidFileError", outcome
    assert str(path) in outcome.error_message and "cannot be read as an image" in outcome.error_message


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the test opens it itself
def test_a_lazy_pil_image_is_held_to_the_budget_and_its_errors_name_its_file(folder, tmp_path):
    from PIL import Image

    from panda_viz.exceptions import FileLimitError, InvalidFileError
    from panda_viz.imaging.photos import load_images

    path = folder / "png-100-megapixels.png"
    with Image.open(path) as image:  # Pillow opens it (under its own limit); nothing is decoded yet
        with pytest.raises(FileLimitError, match=r"declares 10,000 × 10,000 pixels .* the limit is 64,000,000") as info:
            load_images(image, 64)
    assert info.value.path == path
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png_header(100, 100))
    with Image.open(truncated) as image:
        with pytest.raises(InvalidFileError, match=r"'.*truncated.png' cannot be read as an image") as info:
            load_images(image, 64)
    assert info.value.path == truncated
