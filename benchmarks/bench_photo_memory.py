"""Peak resident memory of reading a 60-megapixel photo with ``panda_viz.load_images``, against a plain read.

A 6,324 × 9,487 portrait (60.0 megapixels: matplotlib's ``grace_hopper.jpg`` upscaled, so
it has a photo's content) is written once as a JPEG (quality 90) and as a PNG. Each read
then runs in its own fresh process, and the process's peak resident memory (``VmHWM``) is
reported beside the same process doing nothing but importing torch and panda_viz:

- ``load_images(path, size)``: bounded decoding (JPEG decoded reduced, the crop converted
  band by band and block-averaged);
- the plain read that ``load_images`` did before: ``Image.open(path).convert("RGB")`` whole,
  to float32, the centred square cropped, then one antialiased bicubic resize.

    .venv/bin/python benchmarks/bench_photo_memory.py                # sizes 64 and 1024
    .venv/bin/python benchmarks/bench_photo_memory.py --sizes 64
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

WIDTH, HEIGHT = 6_324, 9_487

_CHILD = r'''
import json, sys, time
import numpy as np, torch, torch.nn.functional as F
import panda_viz
from PIL import Image
path, size, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
if how == "load_images":
    x = panda_viz.load_images(path, size)
elif how == "plain":
    with Image.open(path) as image:
        rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
    _, h, w = rgb.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = rgb[:, top:top + side, left:left + side]
    x = F.interpolate(crop[None], size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1) * 2 - 1
else:
    x = None
seconds = time.perf_counter() - t0
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(json.dumps({"peak_mb": peak, "seconds": seconds, "shape": None if x is None else list(x.shape),
                  "images": None if x is None else x.flatten().tolist()[:: max(1, x.numel() // 65536)]}))
'''


def measure(path: Path, size: int, how: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(size), how], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_photos(folder: Path) -> dict[str, Path]:
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        big = image.convert("RGB").resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    paths = {"JPEG": folder / "portrait-60mp.jpg", "PNG": folder / "portrait-60mp.png"}
    big.save(paths["JPEG"], quality=90)
    big.save(paths["PNG"], compress_level=1)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 1024])
    args = parser.parse_args()
    print(f"{datetime.date.today()}  torch {torch.__version__}  load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp))
        baseline = measure(paths["JPEG"], 64, "nothing")["peak_mb"]
        print(f"photo {WIDTH} × {HEIGHT} = {WIDTH * HEIGHT / 1e6:.1f} megapixels; "
              + ", ".join(f"{k} {p.stat().st_size / 1e6:.1f} MB" for k, p in paths.items()))
        print(f"a process importing torch and panda_viz: peak {baseline:.0f} MB\n")
        print("| file | output | load_images: peak, s | plain read: peak, s | ratio of peaks | difference: mean, max |")
        print("| --- | --- | --- | --- | --- | --- |")
        for kind, path in paths.items():
            for size in args.sizes:
                ours, plain = measure(path, size, "load_images"), measure(path, size, "plain")
                diffs = [abs(a - b) for a, b in zip(ours["images"], plain["images"])]
                print(f"| {kind} | {size}×{size} | {ours['peak_mb']:.0f} MB, {ours['seconds']:.2f} s | "
                      f"{plain['peak_mb']:.0f} MB, {plain['seconds']:.2f} s | {ours['peak_mb'] / plain['peak_mb']:.2f} | "
                      f"{sum(diffs) / len(diffs):.4f}, {max(diffs):.3f} |")
    started = time.strftime("%H:%M")
    print(f"\n(done {started}; load average {os.getloadavg()[0]:.1f}; differences |load_images − plain| in the "
          "[-1, 1] range, over 65,536 output values or all of them)")


if __name__ == "__main__":
    main()
