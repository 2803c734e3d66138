"""Calibration of panda_viz.inversion.typicality on the embedded DCGAN: what distance each kind of image gets.

Generated samples (new seeds), Grace Hopper's portrait (matplotlib's sample data) at four
crops and upside down, matplotlib's gift box and logo, and synthetic images. Run:
``python benchmarks/photo_distance.py``; the numbers are quoted in docs/real-images.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image
from matplotlib import cbook

import panda_viz
from panda_viz.imaging.photos import load_images
from panda_viz.inversion.typicality import distance_from_generator, image_space


def main() -> None:
    G = panda_viz.load_generator("dcgan-digiface")
    started = time.perf_counter()
    space = image_space(G)
    print(f"image_space: {time.perf_counter() - started:.1f} s")
    data = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).parent
    size = tuple(G.image_shape[1:])
    hopper = np.asarray(Image.open(data / "grace_hopper.jpg").convert("RGB"))
    yy, xx = np.mgrid[:64, :64]
    rng = np.random.default_rng(0)
    images = {
        "hopper, centre square": load_images(data / "grace_hopper.jpg", size),
        "hopper, box 80 30 450 400": load_images(data / "grace_hopper.jpg", size, box=(80, 30, 450, 400)),
        "hopper, tight box": load_images(data / "grace_hopper.jpg", size, box=(130, 80, 400, 350)),
        "hopper, upside down": load_images(hopper[::-1].copy(), size),
        "gift box": load_images(data / "Minduka_Present_Blue_Pack.png", size),
        "matplotlib logo": load_images(data / "logo2.png", size),
        "uniform noise": load_images(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), size),
        "checkerboard": load_images((((yy // 8 + xx // 8) % 2) * 255).astype(np.uint8)[..., None].repeat(3, 2), size),
        "colour gradient": load_images(np.stack([xx * 4, yy * 4, 128 + 0 * xx], -1).astype(np.uint8), size),
        "flat grey": load_images(np.full((64, 64, 3), 128, np.uint8), size),
    }
    generated = distance_from_generator(space, G.synthesize(G.sample_latents(500, seed=777), progress=False))
    print(f"generated (500 new seeds): median {generated.median():.2f}, 99th percentile {generated.quantile(0.99):.2f}, "
          f"max {generated.max():.2f}, above 1: {int((generated > 1).sum())}")
    for name, image in images.items():
        print(f"{name:28s} {float(distance_from_generator(space, image)[0]):.2f}")


if __name__ == "__main__":
    main()
