"""Inverting real photos into the embedded DCGAN: PSNR and time per stage, and how local named edits stay.

1. ``panda_viz.invert`` with its defaults on 64×64 crops of the only real face photo an
   installed package ships (matplotlib's ``grace_hopper.jpg``): the face crop, its mirror
   image, a looser crop and a greyscale version, one at a time: PSNR after each stage
   (latents, features at main.5, pivotal tuning) and the time each took.
2. The same face crop with the alternatives the issue measured, side by side: latents only,
   latents + features (no tuning), and features + tuning at ``main.2`` instead of ``main.5``.
3. Locality of the edit zoo's named edits (``dcgan-digiface``, main.5): ROIR (PandA Eq. 7,
   change outside / inside the edit's part, upsampled to the image) on each inverted photo
   against the mean ROIR of the same edit on 16 generated samples (seeds 0 … 15); the
   target is a ratio of at most 1.5.

    .venv/bin/python benchmarks/bench_inversion.py            # about a minute on a quiet 2-core CPU
    .venv/bin/python benchmarks/bench_inversion.py --quick    # the face crop only, no alternatives

The machine's load average is printed before and after: wall times on a shared machine
are the machine's, not the method's. With one torch thread (the default, ``--threads``) the
process's CPU time, printed beside them, is what the run takes on one otherwise idle
core; with more threads CPU time also counts threads spinning while others wait.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

import torch
import torch.nn.functional as F
from matplotlib import cbook
from PIL import Image, ImageOps

import panda_viz
from panda_viz.editing.edits import part_maps
from panda_viz.metrics import roir

FACE_BOX = (80, 30, 450, 400)
LOOSE_BOX = (40, 0, 490, 450)


def photos() -> dict[str, Image.Image]:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        image = image.convert("RGB")
        face = image.crop(FACE_BOX)
        return {
            "face crop": face,
            "mirrored": ImageOps.mirror(face),
            "loose crop": image.crop(LOOSE_BOX),
            "greyscale": face.convert("L"),
        }


def edit_masks(G, zoo) -> dict[str, tuple]:
    out = {}
    for name in zoo:
        edit = zoo[name]
        model = zoo.load_model(name, G)
        parts = (edit.part,) if isinstance(edit.part, int) else edit.part
        p = part_maps(model)[list(parts)].sum(0, keepdim=True)
        mask = F.interpolate(p[None], size=(64, 64), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)
        out[name] = (model, mask)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the face crop only, no alternatives")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: its CPU time does not count other jobs' contention)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# bench_inversion  {datetime.datetime.now():%Y-%m-%d %H:%M}  torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    G = panda_viz.load_generator("dcgan-digiface")
    zoo = panda_viz.load_edit_zoo("dcgan-digiface")
    masks = edit_masks(G, zoo)
    G.synthesize(G.sample_latents(2, seed=0))  # warm up

    print("\n## defaults, one photo at a time\n")
    print("| photo | latents | + features (main.5) | + tuning | total (wall) | CPU time | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    inversions = {}
    for label, photo in list(photos().items())[: 1 if args.quick else None]:
        started, cpu = time.perf_counter(), time.process_time()
        inv = panda_viz.invert(G, photo, progress=False)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        inversions[label] = inv
        cells = [f"{float(inv.stage_psnr[s][0]):.1f} dB, {inv.stage_seconds[s]:.1f} s" for s in ("latents", "features", "tuning")]
        print(f"| {label} | {' | '.join(cells)} | **{float(inv.psnr[0]):.1f} dB in {total:.1f} s** | {cpu:.1f} s "
              f"| {os.getloadavg()[0]:.1f} |", flush=True)

    if not args.quick:
        print("\n## alternatives on the face crop\n")
        print("| stages | PSNR | time (wall) | CPU time |")
        print("| --- | --- | --- | --- |")
        face = photos()["face crop"]
        for label, kwargs in [
            ("latents only (8 starts × 60 steps)", dict(layer=None, tune_steps=0)),
            ("latents + main.5 features, no tuning", dict(tune_steps=0)),
            ("latents + main.5 features, 500 feature steps", dict(tune_steps=0, feature_steps=500)),
            ("latents + main.2 features + tuning after main.2", dict(layer="main.2")),
            ("defaults (latents + main.5 features + tuning after main.5)", dict()),
        ]:
            started, cpu = time.perf_counter(), time.process_time()
            inv = panda_viz.invert(G, face, progress=False, **kwargs)
            print(f"| {label} | {float(inv.psnr[0]):.1f} dB | {time.perf_counter() - started:.1f} s "
                  f"| {time.process_time() - cpu:.1f} s |", flush=True)
            if kwargs.get("layer") == "main.2":
                inversions["main.2 + tuning (face crop)"] = inv

    print("\n## named edits: ROIR on the inverted photos / mean ROIR on 16 generated samples\n")
    z = G.sample_latents(16, seed=0)
    labels = list(inversions)
    print("| edit | generated | " + " | ".join(labels) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in labels) + " |")
    worst = {label: 0.0 for label in labels}
    for name, (model, mask) in masks.items():
        generated = roir(G.synthesize(z), zoo.apply(G, z, name, model=model), mask).mean
        cells = []
        for label, inv in inversions.items():
            edited = zoo.apply(G, inv, name, model=model)
            value = roir(inv.reconstruction, edited, mask).mean
            worst[label] = max(worst[label], value / generated)
            cells.append(f"{value:.2f} ({value / generated:.2f}×)")
        print(f"| {name} | {generated:.2f} | " + " | ".join(cells) + " |", flush=True)
    print("| **largest ratio** | | " + " | ".join(f"**{worst[label]:.2f}×**" for label in labels) + " |")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
