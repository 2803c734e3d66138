"""Streaming fits: peak memory does not grow with N, and a streamed fit equals the in-memory one.

1. In a fresh process, ``fit_generator(G, "main.8", n_samples=20_000)`` with the default
   solver: prints the peak resident memory (ru_maxrss) before and after the fit.
   The feature maps alone would take 20,000 x 128 x 16 x 16 x 4 B = 2.6 GB.
2. For N = 2,000 at main.8: the streamed fit (``fit_generator``, batches of 128) against
   ``PandA().fit(G.features(...))`` on the same latents: largest differences of parts,
   appearances and objective.

    .venv/bin/python benchmarks/bench_streaming.py
    .venv/bin/python benchmarks/bench_streaming.py --n-samples 20000 --compare-samples 2000
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import time


def child(layer: str, n_samples: int) -> None:
    import torch

    import panda_viz
    from panda_viz.decomposition import fit_generator

    G = panda_viz.load_generator("dcgan-digiface")
    G.features(G.sample_latents(2, seed=0), layer)  # warm the module up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    model = fit_generator(G, layer, n_samples=n_samples, seed=0, batch_size=128, progress=False, random_state=0)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before_mb": before, "peak_mb": after, "seconds": seconds, "objective": model.objective_,
                      "n_samples": model.n_samples_, "threads": torch.get_num_threads()}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="main.8")
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--compare-samples", type=int, default=2_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.layer, args.n_samples)
        return 0

    print(f"# bench_streaming  {datetime.date.today()}")
    for n in (1_000, args.n_samples):
        out = subprocess.run([sys.executable, __file__, "--child", "--layer", args.layer, "--n-samples", str(n)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"stream {r['n_samples']:>6} samples at {args.layer}: peak RSS {r['peak_mb']:.0f} MB "
              f"(before the fit {r['before_mb']:.0f} MB), fit {r['seconds']:.1f} s, objective {r['objective']:.5f}")

    import torch

    import panda_viz
    from panda_viz import PandA
    from panda_viz.decomposition import fit_generator

    G = panda_viz.load_generator("dcgan-digiface")
    n = args.compare_samples
    streamed = fit_generator(G, args.layer, n_samples=n, seed=0, batch_size=128, progress=False, random_state=0)
    Z = G.features(G.sample_latents(n, seed=0), args.layer, progress=False)
    full = PandA(random_state=0, verbose=False).fit(Z)
    print(f"streamed vs in-memory, N={n} at {args.layer}: max |parts diff| {float((streamed.parts_ - full.parts_).abs().max()):.2e} "
          f"(max part value {float(full.parts_.max()):.3f}), max |appearances diff| "
          f"{float((streamed.appearances_ - full.appearances_).abs().max()):.2e}, objectives {streamed.objective_:.10f} "
          f"vs {full.objective_:.10f}")
    same = torch.allclose(streamed.parts_, full.parts_, rtol=1e-4, atol=1e-5)
    print("streamed == in-memory (rtol 1e-4, atol 1e-5):", same)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
