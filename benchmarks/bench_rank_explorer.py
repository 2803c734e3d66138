"""The RankExplorer's latencies, before (fits up front, no sweep) and after (first view first, background sweep).

    python benchmarks/bench_rank_explorer.py [--n-samples 256] [--layer main.5] [--threads 1] [--pause 3]

One run, on the embedded DCGAN, side by side:

- **before**: the explorer as it was configured until now: the features, the HOSVD and 5 MPCA + 5 PandA
  fits (R_S = 1, 2, 4, 8, 16) before the first view, no background sweep; then a new rank pair
  is one fit and one redraw.
- **after**: the first view right after the features and the HOSVD (``precompute=()``), the
  MPCA and PandA fits swept in a background thread; and the lesson's path, where the explorer
  is given the notebook's decompositions (``approximations=``), so no generator pass and no HOSVD.

A new rank pair is timed twice after: at once after the first view (the sweep has not
reached it: a fit on the spot while the sweep runs beside it), and after ``--pause`` seconds,
as when a class looks at the first view before moving a slider (the sweep usually has it).
``--threads`` sets torch's intra-op threads (the lesson uses 1). Prints ``uptime``'s load:
on a shared machine, every number grows with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import panda_viz
from panda_viz.decomposition.low_rank import LowRankApproximations
from panda_viz.widgets import RankExplorer

OLD_PRECOMPUTE = (1, 2, 4, 8, 16)


def timed(make):
    start = time.perf_counter()
    value = make()
    return value, time.perf_counter() - start


def moves(explorer, method, ranks_s):
    """Seconds of each slider move to R_S in ``ranks_s`` (R_C = C) for ``method``, and whether it fitted."""
    explorer.set_state(method=method)
    out = []
    for r_s in ranks_s:
        explorer.rank_s.value = r_s  # what a released slider does
        out.append((explorer.last_update_seconds, explorer._fitting))
    return out


def median(values):
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=256)
    parser.add_argument("--layer", default="main.5")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pause", type=float, default=3.0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    G = panda_viz.load_generator("dcgan-digiface")
    G.features(G.sample_latents(2, seed=0), args.layer)  # warm up torch, not timed
    print(f"bench_rank_explorer {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}: {G.name} "
          f"{args.layer}, N = {args.n_samples}, torch threads {torch.get_num_threads()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")

    before, t_before = timed(lambda: RankExplorer(G, args.layer, n_samples=args.n_samples, sample=2,
                                                  precompute=OLD_PRECOMPUTE, background=False))
    before_new = {m: moves(before, m, [11, 13, 21]) for m in ("mpca", "panda")}
    before_cached = moves(before, "mpca", [8, 4])
    before.close()

    after, t_after = timed(lambda: RankExplorer(G, args.layer, n_samples=args.n_samples, sample=2))
    after_now = {m: moves(after, m, [40 + k]) for k, m in enumerate(("mpca", "panda"))}  # far: not swept yet
    after.set_state(method="hosvd", r_s=8)
    time.sleep(args.pause)
    after_pause = {m: moves(after, m, [9, 7, 10]) for m in ("mpca", "panda")}
    after_cached = moves(after, "mpca", [8, 9])
    swept, t_sweep = timed(lambda: after.sweep.wait(timeout=600))
    done, total = after.sweep.progress()
    after.close()

    latents = G.sample_latents(args.n_samples, seed=0)
    approx = LowRankApproximations(G.features(latents, args.layer))
    approx.hosvd_errors()  # the lesson has done it by then
    lesson, t_lesson = timed(lambda: RankExplorer(G, args.layer, approximations=approx, latents=latents, sample=2))
    lesson.close()

    def row(name, before_s, after_s, note=""):
        print(f"{name:<52} {before_s:>9} {after_s:>9}  {note}")

    def fmt(x):
        return f"{x:7.2f} s" if x == x else "       –"

    print(f"{'':<52} {'before':>9} {'after':>9}")
    row("first view (features, HOSVD, + fits before: 10)", fmt(t_before), fmt(t_after))
    row("first view, given the lesson's decompositions", fmt(float("nan")), fmt(t_lesson))
    for m in ("mpca", "panda"):
        b = median([s for s, _ in before_new[m]])
        (a_now, fitted_now), = after_now[m]
        a_pause = median([s for s, _ in after_pause[m]])
        n_fitted = sum(f for _, f in after_pause[m])
        row(f"{m}: new rank pair, at once (fit + redraw)", fmt(b), fmt(a_now), f"fitted on the spot: {fitted_now}")
        row(f"{m}: new rank pair, {args.pause:g} s after the first view", fmt(b), fmt(a_pause),
            f"{n_fitted} of 3 fitted on the spot, the rest from the sweep")
    row("a rank pair seen before (redraw only)", fmt(median([s for s, _ in before_cached])),
        fmt(median([s for s, _ in after_cached])))
    row(f"background sweep, every R_S for both methods", "", fmt(t_sweep), f"{done}/{total} cached, "
        f"finished: {swept}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
