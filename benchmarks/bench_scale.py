"""Scaling out: samples/s of feature extraction and of the whole fit, one process against several.

For each configuration it starts fresh processes joined in a process group (Gloo on the
CPU, on 127.0.0.1; NCCL with one GPU per process when CUDA is present and ``--cuda``),
and measures on the embedded DCGAN:

- extraction: one pass of :class:`panda_viz.generators.FeatureStream` over this rank's
  shard (forward passes to the layer), between two barriers;
- fit: the whole :func:`panda_viz.decomposition.fit_generator` (Gram pass, solves, and for
  ``n_appearances < C`` the alternations' passes), between two barriers;

and prints samples/s (N over the slowest rank's time) with the speed-up over the first
configuration, side by side in one run. Threads: a CPU configuration of P processes gives
each ``cores // P`` threads, so every row uses the whole machine; the 1-process, 1-thread
row is the per-core baseline.

    .venv/bin/python benchmarks/bench_scale.py                       # N = 2048 at main.5
    .venv/bin/python benchmarks/bench_scale.py --n-samples 8192 --layer main.8 --cuda
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank(rank, size, port, threads, device, args, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank))
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    import panda_viz
    from panda_viz.decomposition import fit_generator
    from panda_viz.generators import FeatureStream

    if device == "cuda":
        torch.cuda.set_device(rank)
    dev = f"cuda:{rank}" if device == "cuda" else "cpu"
    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=size, timeout=timedelta(seconds=600))
    G = panda_viz.load_generator("dcgan-digiface", device=dev)
    G.features(G.sample_latents(2, seed=0), args.layer)  # warm-up

    def timed(fn):
        dist.barrier()
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        result = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t
        times = [None] * size
        dist.all_gather_object(times, seconds)
        return result, max(times)

    stream = FeatureStream(G, args.layer, n_samples=args.n_samples, seed=0, batch_size=args.batch_size, progress=False)
    _, extract = timed(lambda: sum(len(b) for b in stream))
    model, fit = timed(lambda: fit_generator(G, args.layer, n_samples=args.n_samples, seed=0, batch_size=args.batch_size,
                                              progress=False, n_parts=args.n_parts, n_appearances=args.n_appearances,
                                              random_state=0))
    if rank == 0:
        (out / "result.pkl").write_bytes(pickle.dumps({"extract": extract, "fit": fit, "objective": model.objective_,
                                                        "parts": model.parts_}))
    dist.destroy_process_group()


def measure(size, threads, device, args):
    ctx = multiprocessing.get_context("spawn")
    port = _port()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [ctx.Process(target=_rank, args=(r, size, port, threads, device, args, Path(tmp))) for r in range(size)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(1800)
        if any(p.exitcode != 0 for p in procs):
            raise SystemExit(f"a rank failed: exit codes {[p.exitcode for p in procs]}")
        return pickle.loads((Path(tmp) / "result.pkl").read_bytes())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="main.5")
    parser.add_argument("--n-samples", type=int, default=2048)
    parser.add_argument("--n-parts", type=int, default=8)
    parser.add_argument("--n-appearances", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="CPU process counts (default 1 2)")
    parser.add_argument("--cuda", action="store_true", help="also 1 … all GPUs with NCCL, one process each")
    args = parser.parse_args(argv)

    import torch

    cores = os.cpu_count() or 1
    configs = [("cpu", 1, 1)] + [("cpu", p, max(1, cores // p)) for p in args.processes]
    if args.cuda and torch.cuda.is_available():
        n_gpu = torch.cuda.device_count()
        configs += [("cuda", p, 1) for p in sorted({1, 2, n_gpu}) if p <= n_gpu]
    elif args.cuda:
        print("--cuda: no CUDA device here; CPU rows only")
    print(f"bench_scale: {args.layer}, N = {args.n_samples}, {args.n_parts} parts, R_C = {args.n_appearances or 'C'}, "
          f"batch {args.batch_size}; {cores} CPU cores; torch {torch.__version__}")
    print(f"{'device':>6} {'procs':>5} {'threads':>7} | {'extract s':>9} {'samples/s':>9} {'x':>5} | "
          f"{'fit s':>7} {'samples/s':>9} {'x':>5} | objective      same parts")
    base = None
    for device, size, threads in configs:
        r = measure(size, threads, device, args)
        base = base or r
        same = bool(torch.equal(r["parts"], base["parts"]))
        n = args.n_samples
        print(f"{device:>6} {size:>5} {threads:>7} | {r['extract']:9.2f} {n / r['extract']:9.0f} {base['extract'] / r['extract']:5.2f} | "
              f"{r['fit']:7.2f} {n / r['fit']:9.0f} {base['fit'] / r['fit']:5.2f} | {r['objective']:.10f} {same}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
