"""``panda-viz fit``: fit PandA on a generator's layer and save the factors with a short report.

Runs the same alone and under ``torchrun`` (``python -m torch.distributed.run
--nproc-per-node=N -m panda_viz.commands.cli fit …``): inside a process group every rank extracts
its shard of the samples, the Gram sums are added across ranks, every rank solves the same
small problem, and rank 0 writes the files, atomically and only once every rank has
succeeded. See ``docs/scaling-out.md``.

::

    panda-viz fit dcgan-digiface --layer main.5 --samples 2000 --parts 8 --seed 0 --out results/main5.npz

writes ``results/main5.npz`` (:func:`panda_viz.formats.factors.save_factors`'s format) and
``results/main5.report.json`` (objective, time, samples/s, world size, device), and prints
the report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..exceptions import InvalidInputError, PandaVizError
from ..fileio.atomic import atomic_path
from ..runtime import distributed

__all__ = ["fit_to_files", "report_path", "add_arguments", "run", "add_device_arguments", "resolve_device", "report_error"]


def report_path(out: str | Path) -> Path:
    """The report written beside the factors: ``x.npz`` -> ``x.report.json``."""
    out = Path(out)
    return out.with_name(out.stem + ".report.json")


def fit_to_files(
    generator,
    layer: str,
    *,
    n_samples: int,
    n_parts: int,
    out: str | Path,
    seed: int = 0,
    n_appearances: int | None = None,
    appearance_basis: str = "orthonormal",
    batch_size: int = 128,
    max_iter: int | None = None,
    tol: float = 1e-6,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Fit PandA on ``n_samples`` seeded samples of ``layer`` and write the factors and a report.

    Parameters
    ----------
    generator : panda_viz.Generator
    layer : str
    n_samples, n_parts : int
    out : path
        The factors (``.npz``); the report goes to :func:`report_path`.
    seed : int
        Seeds both the latents and the fit's initialisation (``random_state``).
    n_appearances, appearance_basis, max_iter, tol
        As in :class:`panda_viz.PandA` (the projective solver, the one that shards).
    batch_size : int
        Samples per forward pass.
    progress : bool or None
        Progress bars (rank 0 only).

    Returns
    -------
    dict
        The report: generator, layer, n_samples, n_parts, n_appearances, objective,
        seconds, samples_per_second, world_size, backend, device, factors, report.

    Raises
    ------
    DistributedError
        Inside a process group, when anything fails on any rank (every rank raises it;
        nothing is written).
    """
    from ..decomposition import fit_generator
    from ..formats.factors import save_factors

    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise InvalidInputError(f"--out must name an .npz file (the saved-factors format); got {str(out)!r}")
    w = distributed.world()
    start = time.perf_counter()
    model = fit_generator(
        generator, layer, n_samples=n_samples, seed=seed, batch_size=batch_size, progress=progress,
        n_parts=n_parts, n_appearances=n_appearances, appearance_basis=appearance_basis,
        max_iter=max_iter, tol=tol, random_state=seed,
    )
    seconds = time.perf_counter() - start
    report = {
        "generator": getattr(generator, "name", None),
        "layer": layer,
        "n_samples": int(model.n_samples_),
        "n_parts": int(model.n_parts_),
        "n_appearances": int(model.n_appearances_),
        "seed": int(seed),
        "objective": float(model.objective_),
        "n_iter": int(model.n_iter_),
        "seconds": round(seconds, 3),
        "samples_per_second": round(n_samples / seconds, 2),
        "world_size": w.size,
        "backend": w.backend,
        "device": str(generator.device),
        "factors": str(out),
        "report": str(report_path(out)),
    }

    def write() -> None:
        if not w.is_main:
            return
        save_factors(model, out)
        with atomic_path(report_path(out)) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    distributed.agree(write, "writing the factors")
    return report


# ------------------------------------------------------------------------------ command
def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--timeout``, shared with ``panda-viz render``."""
    from .arguments import positive_float

    parser.add_argument("--device", default="auto",
                        help="where the generator runs: auto (cuda:LOCAL_RANK when CUDA is available, else cpu), cpu, cuda, cuda:1 …")
    parser.add_argument("--timeout", type=positive_float, default=distributed.DEFAULT_TIMEOUT,
                        help=f"seconds a rank waits for the others before failing (default {distributed.DEFAULT_TIMEOUT:g})")


def resolve_device(text: str) -> torch.device:
    """``auto`` -> :func:`panda_viz.runtime.distributed.default_device`; otherwise the device named."""
    if text == "auto":
        return distributed.default_device()
    try:
        return torch.device(text)
    except (RuntimeError, ValueError):
        raise InvalidInputError(f"--device must be auto, cpu, cuda or cuda:N; got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .arguments import positive_int, seed

    parser.add_argument("generator", help="a registered generator name (e.g. dcgan-digiface) or a checkpoint file")
    parser.add_argument("--layer", required=True, help="the layer to factorise, a module name (e.g. main.5)")
    parser.add_argument("--samples", type=positive_int(), required=True, help="number of seeded samples N")
    parser.add_argument("--parts", type=positive_int(), required=True, help="number of parts R_S")
    parser.add_argument("--appearances", type=positive_int(), default=None, help="number of appearances R_C (default: C)")
    parser.add_argument("--basis", choices=("orthonormal", "free"), default="orthonormal", help="appearance basis (default orthonormal)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the latents and of the fit (default 0)")
    parser.add_argument("--batch-size", type=positive_int(), default=128, help="samples per forward pass (default 128)")
    parser.add_argument("--max-iter", type=positive_int(), default=None, help="parts iterations per solve (default 1000)")
    parser.add_argument("--tol", type=float, default=1e-6, help="stopping tolerance (default 1e-6)")
    parser.add_argument("--out", type=Path, required=True, help="the factors file to write (.npz); the report goes beside it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_device_arguments(parser)


def report_error(command: str, err: BaseException) -> int:
    """Print ``err`` as one line on stderr, with the process rank inside a group; returns the exit code 1."""
    w = distributed.world()
    where = f" (rank {w.rank} of {w.size})" if w.active else ""
    print(f"panda-viz {command}{where}: error: {err}", file=sys.stderr, flush=True)
    return 1


def run(args: argparse.Namespace) -> int:
    from ..generators import load_generator

    try:
        device = resolve_device(args.device)
        with distributed.process_group(device, timeout=args.timeout) as w:
            generator = distributed.agree(lambda: load_generator(args.generator, device=device), "loading the generator")
            report = fit_to_files(
                generator, args.layer, n_samples=args.samples, n_parts=args.parts, out=args.out, seed=args.seed,
                n_appearances=args.appearances, appearance_basis=args.basis, batch_size=args.batch_size,
                max_iter=args.max_iter, tol=args.tol, progress=False if args.no_progress else None,
            )
            if w.is_main:
                print(json.dumps(report, indent=2), flush=True)
    except (PandaVizError, ValueError, TypeError, OSError, KeyError) as err:
        return report_error("fit", err)
    return 0
