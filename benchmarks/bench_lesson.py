"""How long the lesson's RankExplorer takes: start-up, and one slider move per method.

    python benchmarks/bench_lesson.py [--n-samples 256] [--layer main.5] [--threads 1]

Times, side by side in one run, on the embedded DCGAN: the start-up (N generator passes, the
HOSVD, the precomputed MPCA and PandA fits), then a move of R_S for each method, first to a
rank pair not seen before (for MPCA and PandA: one fit) and then back to a cached one (only a
reconstruction, one generator pass and the redraw). ``--threads`` sets torch's intra-op
threads for this process (the lesson's notebook uses 1: the matrices are small, and a busy
shared machine makes more threads slower, not faster); 0 keeps torch's default.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import panda_viz
from panda_viz.widgets import RankExplorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=256)
    parser.add_argument("--layer", default="main.5")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    G = panda_viz.load_generator("dcgan-digiface")
    start = time.perf_counter()
    explorer = RankExplorer(G, args.layer, n_samples=args.n_samples, sample=2, precompute=(1, 2, 4, 8, 16),
                            background=False)  # its numbers: fits up front, none behind (bench_rank_explorer: both)
    startup = time.perf_counter() - start
    C = explorer.rank_c.max
    print(f"bench_lesson {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}: {G.name} {args.layer}, "
          f"N = {args.n_samples}, torch threads {torch.get_num_threads()}")
    print(f"start-up (features, HOSVD, 5 MPCA + 5 PandA fits): {startup:6.2f} s")
    print(f"{'method':<8} {'new rank pair (fit + draw)':>28} {'cached rank pair (draw)':>26}")
    for method in ("hosvd", "mpca", "panda"):
        explorer.set_state(method=method, r_c=C, r_s=8)
        new, cached = [], []
        for k in range(args.repeats):
            r_s = 11 + k  # not precomputed
            explorer.rank_s.value = r_s                     # what a released slider does
            new.append(explorer.last_update_seconds)
            explorer.rank_s.value = 8
            cached.append(explorer.last_update_seconds)
        print(f"{method:<8} {statistics.median(new):26.2f} s {statistics.median(cached):24.2f} s")
    assert explorer.log_area.last_error is None, explorer.log_area.last_error


if __name__ == "__main__":
    main()
