"""Side by side: the default PandA solver, the free basis, and Algorithm 1 (the official recipe).

On the embedded DigiFace DCGAN, at each layer: N samples' feature maps, 8 parts, R_C = C.

* Algorithm 1 (``solver="pgd"``): batch size 1, 10,000 iterations, fixed learning rate,
  mini-batches drawn with replacement from the N samples (the official code draws fresh
  latents each step), run at several learning rates (multiples of the data-scaled default
  1 / (32 b lambda_max(M) / N), b the batch size); the best final objective is the reference.
* the default (``solver="projective"``, orthonormal basis) and
  ``appearance_basis="free"``, each timed from the start of ``fit`` (Gram pass included)
  to the first iteration whose relative objective is at or below Algorithm 1's final one.

Prints the relative objectives (Eq. 3 / sum ||Z_i||^2), the times, the ratios, and each
fit's time as a fraction of the feature extraction's. Timings are wall-clock on whatever
the machine is doing; run on a quiet one for clean numbers.

    .venv/bin/python benchmarks/bench_solvers.py                     # main.5 and main.8, N = 1000
    .venv/bin/python benchmarks/bench_solvers.py --layers main.5 --lr-multipliers 1 4
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch

import panda_viz
from panda_viz import PandA
from panda_viz.exceptions import NonFiniteError


def timed_fit(Z, **params):
    """Fit; returns the model, the seconds, and the (seconds, objective) trace.

    Time spent evaluating the loss history (pgd/adam: a pass over the data every
    max_iter/50 steps, ``model.timings_["objective"]``) is not counted. Each of those
    evaluations is the same pass over the same data and comes right before a callback,
    so the k-th mark of the trace leaves out k evaluations' mean time.
    """
    marks = []
    start = time.perf_counter()
    model = PandA(verbose=False, callback=lambda it, rel: marks.append((time.perf_counter() - start, rel)), **params).fit(Z)
    evaluating = model.timings_["objective"]
    total = time.perf_counter() - start - evaluating
    if evaluating:
        per_evaluation = evaluating / len(model.loss_history_)
        marks = [(seconds - k * per_evaluation, rel) for k, (seconds, rel) in enumerate(marks, start=1)]
    return model, total, marks


def first_below(marks, target):
    return next((t for t, rel in marks if rel <= target), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="+", default=["main.5", "main.8"])
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--n-parts", type=int, default=8)
    parser.add_argument("--alg1-iters", type=int, default=10_000)
    parser.add_argument("--alg1-batch", type=int, default=1)
    parser.add_argument("--lr-multipliers", type=float, nargs="+", default=[0.0625, 0.25, 1.0, 4.0, 16.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared machine, more threads make small-matrix loops far slower)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(f"# bench_solvers  {datetime.date.today()}  torch {torch.__version__}  {platform.processor() or platform.machine()}"
          f"  threads {torch.get_num_threads()}  panda_viz {panda_viz.__version__}")
    G = panda_viz.load_generator("dcgan-digiface")
    latents = G.sample_latents(args.n_samples, seed=args.seed)
    for layer in args.layers:
        t0 = time.perf_counter()
        Z = G.features(latents, layer, progress=False)
        t_extract = time.perf_counter() - t0
        N, C, H, W = Z.shape
        print(f"\n## {layer}: N={N}, C={C}, H x W={H}x{W}, {args.n_parts} parts; feature extraction {t_extract:.2f} s")

        # Algorithm 1 at several learning rates
        runs = []
        base_lr = None
        for mult in args.lr_multipliers:
            params = dict(n_parts=args.n_parts, solver="pgd", batch_size=args.alg1_batch, max_iter=args.alg1_iters, random_state=args.seed)
            if base_lr is None:
                # the data-scaled default learning rate, read back from a one-step fit
                base_lr = PandA(verbose=False, **{**params, "max_iter": 1}).fit(Z).learning_rate_
            lr = base_lr * mult
            try:
                model, total, marks = timed_fit(Z, learning_rate=lr, **params)
            except NonFiniteError:  # the solver diverged
                print(f"Algorithm 1  lr={lr:.3g} ({mult:g} x default): diverged")
                continue
            runs.append((model.objective_, total, lr, mult, marks))
            print(f"Algorithm 1  lr={lr:.3g} ({mult:g} x default): objective {model.objective_:.5f}  time {total:.1f} s")
        if not runs:
            print("Algorithm 1 diverged at every learning rate; nothing to compare")
            continue
        ref_obj, ref_time, ref_lr, ref_mult, ref_marks = min(runs, key=lambda r: r[0])
        print(f"Algorithm 1 best: lr={ref_lr:.3g} ({ref_mult:g} x default), objective {ref_obj:.5f}, {ref_time:.1f} s")

        header = f"{'method':<24}{'objective':>11}{'vs alg1':>10}{'to alg1 obj':>14}{'speed-up':>10}{'fit time':>10}{'fit/extract':>13}"
        print(header)
        print("-" * len(header))
        print(f"{'Algorithm 1 (official)':<24}{ref_obj:>11.5f}{'1.0000':>10}{ref_time:>13.2f}s{'1x':>10}{ref_time:>9.2f}s{ref_time / t_extract:>13.2f}")
        for name, params in (("default (projective)", {}), ("appearance_basis=free", {"appearance_basis": "free"})):
            model, total, marks = timed_fit(Z, n_parts=args.n_parts, random_state=args.seed, **params)
            reached = first_below(marks, ref_obj)
            ratio = model.objective_ / ref_obj
            if reached is None:
                to, speed = "not reached", f"({ref_time / total:.0f}x)"
            else:
                to, speed = f"{reached:.2f}s", f"{ref_time / reached:.0f}x"
            print(f"{name:<24}{model.objective_:>11.5f}{ratio:>10.4f}{to:>14}{speed:>10}{total:>9.2f}s{total / t_extract:>13.2f}")
            print(f"{'':<24}(of which the Gram pass {model.timings_['gram']:.2f} s; 50x Algorithm 1's speed would need the whole fit in {ref_time / 50:.2f} s)")
            alg1_to = first_below(ref_marks, model.objective_)
            if alg1_to is not None:
                print(f"{'':<24}(Algorithm 1 reached this objective after {alg1_to:.2f} s: {alg1_to / total:.0f}x this fit's time)")
        print("(vs alg1: objective / Algorithm 1's; speed-up: Algorithm 1's time / the time to reach its objective, "
              "or in parentheses / the whole fit when never reached; times exclude loss-history evaluations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
