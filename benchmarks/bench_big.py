"""The 1024-pixel workflow, end to end: time and peak resident memory of each step.

For each full-size generator of :mod:`big_models` (StyleGAN2 config F, StyleGAN3-T and
genforce StyleGAN2, all 1024×1024, built by panda_viz's own classes with random weights
and saved to a temporary folder in a format ``load_generator`` reads), every step runs in
its own fresh Python process, so its peak resident memory (``ru_maxrss``) is its own:

1. ``load``      ``panda_viz.load_generator`` of the saved file;
2. ``layers``    ``G.layers`` and ``G.image_shape`` (meta device: no real forward pass);
3. ``features``  ``G.features`` of N samples at the paper's layer (stopped there);
4. ``fit``       ``panda_viz.fit_generator`` (8 parts) on N samples at that layer;
5. ``edit``      one ``edit_images`` of one sample (a whole 1024-pixel pass) with a mask.

Every step after ``load`` loads the generator first; its time excludes the load, its
peak memory includes it (the weights are resident whenever a user works). Also printed:
the baseline of a process that only imports panda_viz, and the activation estimate
``G.forward_profile`` makes for one sample. Runs on the CPU, and on CUDA when present
(``--device cuda``; peak GPU memory from ``torch.cuda.max_memory_allocated``).

    .venv/bin/python benchmarks/bench_big.py                        # all three, N = 8
    .venv/bin/python benchmarks/bench_big.py --models stylegan3-t-1024 --n-samples 16
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: The layer of each model that the paper (and the official code) factorise, or the
#: StyleGAN3 layer of the same 36×36 scale.
PAPER_LAYERS = {
    "stylegan2-f-1024": "synthesis.b16",
    "stylegan3-t-1024": "synthesis.L1_36_512",
    "genforce-stylegan2-1024": "synthesis.layer4",
}

STEPS = ("baseline", "load", "layers", "features", "fit", "edit")

_CHILD = r"""
import json, resource, sys, time
import torch
import panda_viz
step, args, layer, n, device, threads = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
torch.set_num_threads(threads)
out = {}
if step != "baseline":
    source = args.pop("source")
    t0 = time.perf_counter()
    G = panda_viz.load_generator(source, device=device, **args)
    out["load_s"] = time.perf_counter() - t0
t0 = time.perf_counter()
if step == "layers":
    out["n_layers"] = len(G.layers)
    out["image_shape"] = list(G.image_shape)
    out["layer_shape"] = list(G.layers[layer])
    out["pass_gb_per_sample"] = G.forward_profile.pass_bytes[1] / 2**30
    out["layer_mb_per_sample"] = G.forward_profile.layer_bytes[layer][1] / 2**20
    out["batch_full"] = G.batch_size_for()
    out["batch_layer"] = G.batch_size_for(layer)
elif step == "features":
    Z = G.features(G.sample_latents(n, seed=0), layer, progress=False)
    out["shape"] = list(Z.shape)
elif step == "fit":
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = panda_viz.fit_generator(G, layer, n_samples=n, seed=0, progress=False, n_parts=8, random_state=0)
    out["objective"] = model.objective_
    out["n_iter"] = model.n_iter_
    out["warnings"] = [str(w.message)[:80] for w in caught]
elif step == "edit":
    import numpy as np
    from panda_viz.decomposition import PandA
    C, H, W = G.layers[layer]
    model = PandA(n_parts=2)  # factors of the right shape; an edit costs the same whatever they are
    Z = torch.rand(4, C, H, W)
    model.fit(Z, layer=layer, generator_name=G.name)
    mask = np.zeros(G.image_shape[-2:], dtype=bool)
    mask[: mask.shape[0] // 2] = True
    x = panda_viz.edit_images(G, G.sample_latents(1, seed=0), model, [(None, 0, 5.0)], mask=mask)
    out["shape"] = list(x.shape)
if device.startswith("cuda"):
    torch.cuda.synchronize()
    out["cuda_peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
out["seconds"] = time.perf_counter() - t0
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print("@@" + json.dumps(out))
"""


def run_step(step: str, args: dict, layer: str, n: int, device: str, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, step, json.dumps(args), layer, str(n), device, str(threads)],
        capture_output=True, text=True, env=env,
    )
    for line in done.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(PAPER_LAYERS), choices=list(PAPER_LAYERS))
    parser.add_argument("--n-samples", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    opts = parser.parse_args()

    sys.path.insert(0, str(HERE))
    import big_models
    import torch

    print(f"bench_big  {datetime.datetime.now():%Y-%m-%d %H:%M}  torch {torch.__version__}  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} CPUs, {opts.threads} threads  "
          f"device {opts.device}  N = {opts.n_samples}")
    with tempfile.TemporaryDirectory() as folder:
        for name in opts.models:
            module = big_models.build(name)
            args = big_models.save(name, module, Path(folder))
            del module
            layer = PAPER_LAYERS[name]
            print(f"\n{name}  (layer {layer})")
            print(f"  {'step':<10}{'seconds':>10}{'peak RSS GB':>13}  details")
            for step in opts.steps:
                result = run_step(step, dict(args), layer, opts.n_samples, opts.device, opts.threads)
                if "error" in result:
                    print(f"  {step:<10}  failed: {result['error']}")
                    continue
                seconds = result.pop("load_s") if step == "load" else result.pop("seconds")
                result.pop("seconds", None)
                result.pop("load_s", None)
                rss = result.pop("peak_rss_gb")
                details = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
                print(f"  {step:<10}{seconds:>10.2f}{rss:>13.2f}  {details}", flush=True)


if __name__ == "__main__":
    main()
