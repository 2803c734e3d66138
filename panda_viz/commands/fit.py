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
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .._checks import check_float, check_int, describe
from ..exceptions import InvalidInputError, PandaVizError, ResourceLimitError
from ..fileio.atomic import atomic_path
from ..runtime import distributed
from ..runtime.devices import check_device
from .arguments import MAX_BATCH, MAX_FIT_SAMPLES, MAX_ITER, MAX_RANK, MAX_SEED

__all__ = ["fit_to_files", "report_path", "add_arguments", "run", "add_device_arguments", "resolve_device", "report_error",
           "check_batch_size", "generator_options"]


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
    batch_size: int | None = None,
    max_iter: int | None = None,
    tol: float = 1e-6,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Fit PandA on ``n_samples`` seeded samples of ``layer`` and write the factors and a report.

    Every argument is checked before any sample is drawn.

    Parameters
    ----------
    generator : panda_viz.Generator
    layer : str
    n_samples : int
        In [1, :data:`~panda_viz.commands.arguments.MAX_FIT_SAMPLES`].
    n_parts : int
        In [1, :data:`~panda_viz.commands.arguments.MAX_RANK`] (and at most the layer's H·W, checked by the fit).
    out : path
        The factors (``.npz``); the report goes to :func:`report_path`.
    seed : int
        Seeds both the latents and the fit's initialisation (``random_state``).
    n_appearances, appearance_basis, max_iter, tol
        As in :class:`panda_viz.PandA` (the projective solver, the one that shards).
    batch_size : int, optional
        Samples per forward pass, at most :data:`~panda_viz.commands.arguments.MAX_BATCH` and
        at most what fits in the generator's memory budget (None: as many as fit, at most 128).
    progress : bool or None
        Progress bars (rank 0 only).

    Returns
    -------
    dict
        The report: generator, layer, n_samples, n_parts, n_appearances, objective,
        seconds, samples_per_second, world_size, backend, device, factors, report.

    Raises
    ------
    InvalidInputError, InvalidTypeError
        An argument out of range or of the wrong kind (named), before any work.
    ResourceLimitError
        ``batch_size`` past what fits in the generator's memory budget.
    DistributedError
        Inside a process group, when anything fails on any rank (every rank raises it;
        nothing is written).
    """
    from ..decomposition import fit_generator
    from ..formats.factors import check_factors_path, save_factors

    def check() -> tuple[int | None, Path]:
        check_int("fit_to_files: n_samples", n_samples, low=1, high=MAX_FIT_SAMPLES)
        check_int("fit_to_files: n_parts", n_parts, low=1, high=MAX_RANK)
        check_int("fit_to_files: n_appearances", n_appearances, low=1, high=MAX_RANK, allow_none=True)
        check_int("fit_to_files: seed", seed, low=0, high=MAX_SEED)
        check_int("fit_to_files: max_iter", max_iter, low=1, high=MAX_ITER, allow_none=True)
        check_float("fit_to_files: tol", tol, low=0.0, high=1.0, strict=False)
        if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
            raise InvalidInputError(f"--out must name an .npz file (the saved-factors format); got {describe(out)}")
        if Path(out).suffix.lower() != ".npz":
            raise InvalidInputError(f"--out must name an .npz file (the saved-factors format); got {str(out)!r}")
        return check_batch_size(generator, batch_size, layer, where="fit_to_files: batch_size"), check_factors_path(out, "--out")

    # on every rank, before any sample is drawn: one rank's bad path fails them all at once
    checked_batch, out = distributed.agree(check, "checking the fit's arguments")
    w = distributed.world()
    start = time.perf_counter()
    model = fit_generator(
        generator, layer, n_samples=n_samples, seed=seed, batch_size=checked_batch, progress=progress,
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


def check_batch_size(generator, batch_size: int | None, layer: str | None, *, where: str, default: int | None = None) -> int | None:
    """``batch_size`` (or ``default`` when None) checked against :data:`MAX_BATCH` and the generator's memory budget.

    ``layer``: passes stop after it (a fit's features); None: whole passes (rendering).
    None with no ``default`` stays None (the callee picks as many as fit).

    Raises
    ------
    InvalidTypeError, InvalidInputError
        Not an int in [1, MAX_BATCH].
    ResourceLimitError
        More than fit in ``generator.memory_budget``; the message gives the most that fit.
    """
    if batch_size is None:
        if default is None:
            return None
        return min(default, generator.batch_size_for(layer, at_most=default))
    batch_size = check_int(where, batch_size, low=1, high=MAX_BATCH)
    fits = generator.batch_size_for(layer, at_most=MAX_BATCH)
    if batch_size > fits:
        budget = generator.memory_budget
        raise ResourceLimitError(
            f"{where}: {batch_size:,} {'samples' if layer else 'images'} per forward pass do not fit in the generator's "
            f"memory budget of {budget / 2**30:.3g} GiB (at most {fits:,} do); pass {fits:,} or fewer, or raise the "
            "budget (--memory-budget GIB, or G.memory_budget in Python)"
        )
    return batch_size


# ------------------------------------------------------------------------------ command
def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--memory-budget``, ``--timeout`` and ``--rendezvous-timeout``, shared with ``panda-viz render``."""
    from .arguments import MAX_MEMORY_GIB, bounded_float

    timeout = bounded_float(0.0, distributed.MAX_TIMEOUT)
    parser.add_argument("--device", default="auto",
                        help="where the generator runs: auto (cuda:LOCAL_RANK when CUDA is available, else cpu), cpu, cuda, cuda:1 …")
    parser.add_argument("--memory-budget", type=bounded_float(0.0, MAX_MEMORY_GIB), default=None, metavar="GIB",
                        help="GiB the intermediate tensors of one forward pass may take (default 4); bounds --batch-size")
    parser.add_argument("--timeout", type=timeout, default=distributed.DEFAULT_TIMEOUT,
                        help=f"seconds a rank waits for the others in a collective before failing (default "
                             f"{distributed.DEFAULT_TIMEOUT:g}, at most {distributed.MAX_TIMEOUT:g})")
    parser.add_argument("--rendezvous-timeout", type=timeout, default=distributed.DEFAULT_RENDEZVOUS_TIMEOUT,
                        help=f"seconds the ranks wait for each other when they start (default "
                             f"{distributed.DEFAULT_RENDEZVOUS_TIMEOUT:g}): a missing peer fails then")


def resolve_device(text: str) -> torch.device:
    """``auto`` -> :func:`panda_viz.runtime.distributed.default_device`; otherwise the device named, if this machine has it."""
    if text == "auto":
        return distributed.default_device()
    return check_device(text, name="--device")


def generator_options(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """The :func:`panda_viz.load_generator` options the device arguments give."""
    options: dict[str, Any] = {"device": device}
    if args.memory_budget is not None:
        options["memory_budget"] = int(args.memory_budget * 2**30)
    return options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .arguments import bounded_float, output_file, positive_int, seed

    parser.add_argument("generator", help="a registered generator name (e.g. dcgan-digiface) or a checkpoint file")
    parser.add_argument("--layer", required=True, help="the layer to factorise, a module name (e.g. main.5)")
    parser.add_argument("--samples", type=positive_int(MAX_FIT_SAMPLES), required=True,
                        help=f"number of seeded samples N (at most {MAX_FIT_SAMPLES:,})")
    parser.add_argument("--parts", type=positive_int(MAX_RANK), required=True, help="number of parts R_S")
    parser.add_argument("--appearances", type=positive_int(MAX_RANK), default=None, help="number of appearances R_C (default: C)")
    parser.add_argument("--basis", choices=("orthonormal", "free"), default="orthonormal", help="appearance basis (default orthonormal)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the latents and of the fit (default 0)")
    parser.add_argument("--batch-size", type=positive_int(MAX_BATCH), default=None,
                        help="samples per forward pass (default: as many as fit in the memory budget, at most 128)")
    parser.add_argument("--max-iter", type=positive_int(MAX_ITER), default=None, help="parts iterations per solve (default 1000)")
    parser.add_argument("--tol", type=bounded_float(0.0, 1.0, low_open=False), default=1e-6, help="stopping tolerance in [0, 1] (default 1e-6)")
    parser.add_argument("--out", type=output_file, required=True, help="the factors file to write (.npz); the report goes beside it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_device_arguments(parser)


def report_error(command: str, err: BaseException) -> int:
    """Print ``err`` as one line on stderr, with the process rank inside a group; returns the exit code 1.

    A ``KeyError`` is shown by its message, not the quoted repr ``str(KeyError)`` gives.
    """
    w = distributed.world()
    where = f" (rank {w.rank} of {w.size})" if w.active else ""
    # a KeyError's str() is the repr of its message: quotes round the whole line
    message = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 else err
    print(f"panda-viz {command}{where}: error: {message}", file=sys.stderr, flush=True)
    return 1


def run(args: argparse.Namespace) -> int:
    from ..generators import load_generator

    try:
        device = resolve_device(args.device)
        with distributed.process_group(device, timeout=args.timeout, rendezvous_timeout=args.rendezvous_timeout) as w:
            options = generator_options(args, device)
            generator = distributed.agree(lambda: load_generator(args.generator, **options), "loading the generator")
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
