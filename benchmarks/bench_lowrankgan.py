"""Side by side: LowRankGAN's Robust PCA, the official iteration (a full SVD per iteration) and the eigh solver.

Both solvers run the official ADMM (``RobustPCA.py``: λ = 1/60, μ = d²/(4‖M‖₁), stop at
‖L + S − M‖_F ≤ 1e-7‖M‖_F or 10,000 iterations) on the same matrices, through the whole of
``compute_directions.py`` (:func:`panda_viz.baselines.lowrankgan.lowrank_directions`):

* the embedded DCGAN (d = 100): M_f and M_b of the official fused-channel Jacobian of one
  sample (``--seed``), for the eyes and mouth boxes of ``face_masks()``;
* a 512-d case (the width of StyleGAN's W): M = JᵀJ / n for synthetic J with Gaussian rows
  whose singular values fall as 1/i, n = 2,300 for the region (the official ``eyes`` box,
  20 × 115 pixels of 256 × 256) and 63,236 for the background (the rest of the image).

For each: the iterations of each Robust PCA, the ranks, the worst |cos| between the two
solvers' directions (and with the official numpy code, ``--numpy``, run as published: NumPy's
SVD), the seconds of each, and the ratio. Timings are wall-clock on whatever the machine is
doing; run on a quiet one for clean numbers.

    .venv/bin/python benchmarks/bench_lowrankgan.py                 # DCGAN and 512-d, full iterations
    .venv/bin/python benchmarks/bench_lowrankgan.py --max-iter 500  # the same trajectories, capped
"""

from __future__ import annotations

import os
import sys

# one BLAS thread for NumPy's SVD too (read when NumPy loads): see --threads
if "--threads" not in sys.argv:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime
import platform
import time
import warnings

import numpy as np
import torch

import panda_viz
from panda_viz.baselines import lowrankgan_jacobians, region_grams
from panda_viz.baselines.lowrankgan import lowrank_directions
from panda_viz.exceptions import ConvergenceWarning
from panda_viz.paper.regions import face_masks


def official_numpy_directions(M_fore: np.ndarray, B_back: np.ndarray, max_iter: int) -> np.ndarray:
    """RobustPCA.py and the rest of compute_directions.py main() as published (NumPy), from M_f, M_b."""

    def rpca(M):
        S, L, Lamb = np.zeros(M.shape), np.zeros(M.shape), np.zeros(M.shape)
        mu = np.prod(M.shape) / (4 * np.linalg.norm(M, ord=1))
        error, err, n = 1e-7 * np.linalg.norm(M, ord="fro"), np.inf, 0

        def shrink(X, tau):
            return np.sign(X) * np.maximum((np.abs(X) - tau), np.zeros(X.shape))

        while err > error and n < max_iter:
            U, s, VH = np.linalg.svd(M - S - Lamb / mu, full_matrices=False)
            L = np.dot(U, np.dot(np.diag(shrink(s, 1 / mu)), VH))
            S = shrink(M - L - Lamb / mu, (1 / mu) * (1 / 60))
            Lamb = Lamb + mu * (L + S - M)
            err = np.linalg.norm(L + S - M, ord="fro")
            n += 1
        return L

    L_f, L_b = rpca(M_fore), rpca(B_back)
    rank_f, rank_b = np.linalg.matrix_rank(L_f), np.linalg.matrix_rank(L_b)
    VHf, VHb = np.linalg.svd(L_f)[2], np.linalg.svd(L_b)[2]
    B_null = VHb[min(max(1, rank_b), M_fore.shape[0] - 1):].T
    proj = B_null.dot(B_null.T).dot(VHf[:rank_f].T).T
    return proj / np.linalg.norm(proj, axis=1, keepdims=True)


def worst_cos(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64).reshape(len(a), -1), np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if a.shape != b.shape:
        return float("nan")
    return float(np.abs((a * b).sum(1)).min()) if len(a) else float("nan")


def synthetic_gram(d: int, n: int, rng: np.random.Generator, chunk: int = 8192) -> torch.Tensor:
    """JᵀJ / n for J = Z diag(1/i) Qᵀ, Z (n, d) standard normal, Q a random rotation."""
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    scale = 1 / np.arange(1, d + 1)
    G = np.zeros((d, d))
    for start in range(0, n, chunk):
        Z = rng.standard_normal((min(chunk, n - start), d))
        G += Z.T @ Z
    M = (Q * scale) @ (G / n) @ (Q * scale).T
    return torch.from_numpy((M + M.T) / 2)


def run(name: str, fg: torch.Tensor, bg: torch.Tensor, max_iter: int, with_numpy: bool) -> None:
    results, seconds = {}, {}
    for solver in ("svd", "eigh"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the printout says whether each met its tolerance
            results[solver] = lowrank_directions(fg, bg, max_iter=max_iter, solver=solver)
        seconds[solver] = time.perf_counter() - start
    info = results["eigh"].info
    same = all(results["svd"].info[k] == info[k] for k in ("rank_f", "rank_b", "n_iter_f", "n_iter_b"))
    print(f"\n## {name}: d = {fg.shape[0]}")
    print(f"  Robust PCA iterations  M_f {info['n_iter_f']} ({'met' if info['converged_f'] else 'did not meet'} its tolerance), "
          f"M_b {info['n_iter_b']} ({'met' if info['converged_b'] else 'did not meet'} it)")
    print(f"  ranks                  rank_f {info['rank_f']}, rank_b {info['rank_b']}   "
          f"(svd solver: the same iterations and ranks: {'yes' if same else 'NO'})")
    print(f"  worst |cos| eigh vs svd directions      {worst_cos(results['eigh'].directions, results['svd'].directions):.12f}")
    line = f"  seconds                svd {seconds['svd']:8.2f}   eigh {seconds['eigh']:8.2f}   ratio svd/eigh {seconds['svd'] / seconds['eigh']:5.2f}"
    if with_numpy:
        start = time.perf_counter()
        official = official_numpy_directions(fg.numpy(), bg.numpy(), max_iter)
        seconds["numpy"] = time.perf_counter() - start
        print(f"  worst |cos| eigh vs official NumPy code  {worst_cos(results['eigh'].directions, official):.12f}")
        line += f"   official NumPy {seconds['numpy']:8.2f}   ratio NumPy/eigh {seconds['numpy'] / seconds['eigh']:5.2f}"
    print(line, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=10_000, help="Robust PCA's most iterations (official 10000)")
    parser.add_argument("--regions", nargs="+", default=["eyes", "mouth"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", nargs="+", choices=["dcgan", "512"], default=["dcgan", "512"])
    parser.add_argument("--numpy", choices=["dcgan", "all", "none"], default="dcgan",
                        help="also time the official NumPy code (default: on the DCGAN's matrices only)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, and one OpenBLAS thread for NumPy: on a shared machine, more "
                             "threads make these small-matrix loops far slower; with --threads NumPy keeps its own)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# bench_lowrankgan  {datetime.date.today()}  torch {torch.__version__}  numpy {np.__version__}  "
          f"{platform.processor() or platform.machine()}  torch threads {torch.get_num_threads()}  "
          f"OPENBLAS_NUM_THREADS {os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}  max_iter {args.max_iter}  "
          f"panda_viz {panda_viz.__version__}")

    if "dcgan" in args.cases:
        G = panda_viz.load_generator("dcgan-digiface")
        z = G.sample_latents(1, seed=args.seed)
        start = time.perf_counter()
        J = lowrankgan_jacobians(G, z)
        print(f"DCGAN Jacobian (official: fused channels, 64 px): {tuple(J.shape)} in {time.perf_counter() - start:.2f} s")
        masks = face_masks()
        for region in args.regions:
            fg, bg, rows = region_grams(J, (masks[region] >= 0.5).double())
            run(f"DCGAN, {region} box (n_f {rows[0][0]:.0f}, n_b {rows[0][1]:.0f} pixels)", fg, bg, args.max_iter,
                args.numpy in ("dcgan", "all"))
    if "512" in args.cases:
        rng = np.random.default_rng(args.seed)
        fg, bg = synthetic_gram(512, 2300, rng), synthetic_gram(512, 256 * 256 - 2300, rng)
        run("synthetic 512-d (singular values ∝ 1/i; n_f 2300, n_b 63236)", fg, bg, args.max_iter, args.numpy == "all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
