"""Side by side: StyleSpace's gradient maps the official way and the forward-mode way.

On a style-based test generator of ``tests/data`` (the tiny NVlabs StyleGAN2 by default),
N images, every non-ToRGB style channel, the image average-pooled to 32×32 (official):

* ``official``: one reverse pass per output value (3·32² = 3,072 per image), one image at a
  time, as ``invert_mask.py`` builds the Jacobian (``method="reverse", batch_size=1``; the
  forward pass is kept between the backward passes, which the TensorFlow code re-runs);
* ``reverse, batched``: the same backward passes, each for all N images at once;
* ``forward`` (the default of ``stylespace``): one vmapped forward-mode product per style
  channel, all N images at once.

Checks that the three give the same maps (largest difference relative to the largest
entry), prints the times, the ratios, the pass counts (ΣC products against 3·out² backward
passes per image batch), and the whole ``stylespace`` call (maps and scoring) with the
default. Wall-clock on whatever the machine is doing; run on a quiet one for clean numbers.

    .venv/bin/python benchmarks/bench_stylespace.py                          # stylegan2, N = 2
    .venv/bin/python benchmarks/bench_stylespace.py --generator genforce-stylegan2 --images 4
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch

import panda_viz
from panda_viz.baselines import style_gradients, stylespace
from panda_viz.generators.styles import style_layers
from panda_viz.paper.regions import face_masks

TESTDATA = Path(__file__).resolve().parents[1] / "tests" / "data"
GENERATORS = ("stylegan2", "stylegan3-t", "stylegan3-r", "genforce-stylegan", "genforce-stylegan2")


def load(name: str):
    folder = TESTDATA / name
    if name.startswith("genforce"):
        return panda_viz.load_generator(folder / "checkpoint.pth")
    return panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def largest_difference(a: dict, b: dict) -> float:
    scale = max(float(v.abs().max()) for v in a.values())
    return max(float((a[k] - b[k]).abs().max()) for k in a) / scale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", choices=GENERATORS, default="stylegan2")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--out-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    G = load(args.generator)
    z = G.sample_latents(args.images, seed=0)
    layers = style_layers(G)
    channels = sum(layers.values())
    outputs = 3 * args.out_size**2
    print(f"# bench_stylespace  {datetime.datetime.now():%Y-%m-%d %H:%M}  torch {torch.__version__}  "
          f"{platform.processor() or platform.machine()}  threads {torch.get_num_threads()}  python {sys.version.split()[0]}")
    print(f"generator {args.generator} ({G.image_shape[-1]} px), N = {args.images} images, {len(layers)} style layers, "
          f"ΣC = {channels} channels, out_size {args.out_size} ({outputs} output values per image)")

    style_gradients(G, z[:1], layers=list(layers)[-1:], out_size=args.out_size)  # warm-up (vmap, profiles)
    official, t_official = timed(lambda: style_gradients(G, z, out_size=args.out_size, method="reverse", batch_size=1))
    batched, t_batched = timed(lambda: style_gradients(G, z, out_size=args.out_size, method="reverse"))
    forward, t_forward = timed(lambda: style_gradients(G, z, out_size=args.out_size))
    _, t_pipeline = timed(lambda: stylespace(G, z, face_masks(size=G.image_shape[-1]), out_size=args.out_size))

    rows = [
        ("official (reverse, 1 image a pass)", t_official, f"{outputs * args.images} backward passes", "-"),
        ("reverse, N images a pass", t_batched, f"{outputs} backward passes", f"{largest_difference(official, batched):.1e}"),
        ("forward (default)", t_forward, f"{channels} vmapped products", f"{largest_difference(official, forward):.1e}"),
    ]
    print("\n| method | seconds | passes | max |Δ| / max |official| | official / method |")
    print("| --- | --- | --- | --- | --- |")
    for name, seconds, passes, diff in rows:
        print(f"| {name} | {seconds:.1f} | {passes} | {diff} | {t_official / seconds:.1f} |")
    print(f"\nstylespace() with the default (maps + scoring of 4 face regions): {t_pipeline:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
