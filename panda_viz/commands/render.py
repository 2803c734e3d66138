"""``panda-viz render``: write the images of named edits for a range of seeds to a folder, across ranks.

The seeds ``A:B`` are cut into batches of ``--batch-size`` consecutive seeds (seed s is
the latent ``G.sample_latents(1, seed=s)``); inside a ``torch.distributed`` process group
each rank renders a contiguous run of whole batches, so every image is computed in exactly
the batch a single process would use and the files are byte-identical whatever the number
of ranks. Files are written atomically as ``OUT/<edit>/<seed>.png`` (``OUT/original/`` for
the unedited images with ``--original``); a batch whose files all exist is skipped, so
an interrupted run resumes where it stopped. Rank 0 shows a progress bar and, once every
rank has finished, writes ``OUT/manifest.json``: every file of the job with its seed,
edit, SHA-256 and whether this run wrote it.

::

    panda-viz render dcgan-digiface --edit white_lips --edit dark_moustache --seeds 0:1000 --out renders/
    panda-viz render dcgan-digiface --edits results/my-edits.json --seeds 0:100000 --out renders/
    torchrun --nproc-per-node=4 -m panda_viz.commands.cli render … (the same, four ranks)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._checks import check_float, check_int
from ..exceptions import InvalidInputError, PandaVizError
from ..fileio.atomic import atomic_path
from ..runtime import distributed
from ..runtime.progress import progress as _progress

__all__ = ["RenderJob", "render_edits", "parse_seeds", "MANIFEST", "ORIGINAL", "add_arguments", "run"]

#: The manifest's file name inside the output folder.
MANIFEST = "manifest.json"
#: The folder of the unedited images.
ORIGINAL = "original"
SEED_DIGITS = 8


@dataclass(frozen=True)
class RenderJob:
    """One folder of images: a named edit of a zoo with its factors, or the unedited images (``edit=None``)."""

    name: str
    zoo: Any = None
    edit: str | None = None
    model: Any = None
    alpha: float | None = None


def parse_seeds(text: str) -> range:
    """``"A:B"`` -> ``range(A, B)`` (seeds A … B-1, 0 <= A < B)."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(text))
    if not match or int(match[1]) >= int(match[2]):
        raise InvalidInputError(f"--seeds must be A:B with integers 0 <= A < B (seeds A … B-1); got {text!r}")
    return range(int(match[1]), int(match[2]))


def _file(out: Path, job: RenderJob, seed: int) -> Path:
    return out / job.name / f"{seed:0{SEED_DIGITS}d}.png"


def _images(generator, job: RenderJob, latents: torch.Tensor) -> torch.Tensor:
    if job.edit is None:
        return generator.synthesize(latents, batch_size=len(latents))
    from ..formats.edit_zoo import apply_named_edit

    return apply_named_edit(generator, latents, job.model, job.edit, zoo=job.zoo, alpha=job.alpha, batch_size=len(latents))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render_edits(
    generator,
    jobs: list[RenderJob],
    seeds: range,
    out: str | Path,
    *,
    batch_size: int = 16,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Render ``jobs`` for ``seeds`` into ``out``, sharded across ranks, resumable; returns the manifest.

    Parameters
    ----------
    generator : panda_viz.Generator
    jobs : list of RenderJob
        Distinct names (each is a sub-folder of ``out``).
    seeds : range
        Seed s renders the latent ``generator.sample_latents(1, seed=s)``.
    out : path
        The output folder.
    batch_size : int
        Seeds per forward pass; also the unit of sharding and of resuming.
    progress : bool or None
        Rank 0's progress bar (``None``: for 1000 images or more).

    Returns
    -------
    dict
        The manifest written to ``out/manifest.json`` (on every rank).

    Raises
    ------
    DistributedError
        Inside a process group, when anything fails on any rank (every rank raises it);
        the images already written stay (they are complete), the manifest is not written.
    """
    from ..imaging.render import png_bytes, to_uint8

    out = Path(out)
    w = distributed.world()
    names = [job.name for job in jobs]
    if not jobs or len(set(names)) != len(names):
        raise InvalidInputError(f"render needs at least one edit, each named once; got {names}")
    batch_size = check_int("render_edits: batch_size", batch_size, low=1)
    bounds = list(range(0, len(seeds), batch_size)) + [len(seeds)]
    first, last = distributed.shard_range(bounds, w.rank, w.size, what=f"seeds {seeds.start}:{seeds.stop}")
    units = [(a, min(a + batch_size, last)) for a in range(first, last, batch_size)]

    def render_shard() -> list[dict]:
        records = []
        bar = _progress(units, enabled=progress if w.is_main else False, n_samples=len(seeds) * len(jobs),
                        desc=f"render (rank 0 of {w.size})" if w.active else "render", unit="batch")
        for a, b in bar:
            batch_seeds = list(seeds[a:b])
            latents = None
            for job in jobs:
                paths = [_file(out, job, s) for s in batch_seeds]
                missing = [not p.is_file() for p in paths]
                if any(missing):
                    if latents is None:
                        latents = torch.cat([generator.sample_latents(1, seed=s) for s in batch_seeds])
                    images = to_uint8(_images(generator, job, latents))
                    for path, image, todo in zip(paths, images, missing):
                        if todo:
                            with atomic_path(path) as tmp:
                                tmp.write_bytes(png_bytes(image))
                for seed, path, todo in zip(batch_seeds, paths, missing):
                    records.append({"file": path.relative_to(out).as_posix(), "edit": job.name, "seed": seed,
                                    "sha256": _sha256(path), "written": todo})
        return records

    records = distributed.agree(render_shard, "rendering")
    gathered = distributed.gather_objects(records, what="gathering the manifest")
    files = sorted((r for part in gathered for r in part), key=lambda r: (names.index(r["edit"]), r["seed"]))
    manifest = {
        "generator": getattr(generator, "name", None),
        "seeds": [seeds.start, seeds.stop],
        "edits": [
            {"name": job.name, "zoo": None if job.zoo is None else job.zoo.name, "edit": job.edit, "alpha": job.alpha}
            for job in jobs
        ],
        "batch_size": batch_size,
        "world_size": w.size,
        "n_files": len(files),
        "n_written": sum(r["written"] for r in files),
        "files": files,
    }

    def write() -> None:
        if w.is_main:
            with atomic_path(out / MANIFEST) as tmp:
                tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")

    distributed.agree(write, "writing the manifest")
    return manifest


# ------------------------------------------------------------------------------ command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .arguments import positive_int
    from .fit import add_device_arguments

    parser.add_argument("generator", help="a registered generator name (e.g. dcgan-digiface) or a checkpoint file")
    parser.add_argument("--edit", action="append", default=[], metavar="NAME",
                        help="a named edit (repeatable): of --edits if given, else of --zoo")
    parser.add_argument("--edits", type=Path, default=None, metavar="FILE",
                        help="a saved edit list (an edit zoo .json, EditZoo.save): render all its edits, or those named by --edit")
    parser.add_argument("--zoo", default=None,
                        help="the edit zoo of --edit: a shipped zoo name or a .json (default: the generator's shipped zoo)")
    parser.add_argument("--root", type=Path, default=None, help="folder of the zoo's factor files (default: beside the zoo)")
    parser.add_argument("--alpha", type=float, default=None, help="override every edit's strength α")
    parser.add_argument("--original", action="store_true", help="also write the unedited images (folder 'original')")
    parser.add_argument("--seeds", required=True, help="seeds A:B (A … B-1); seed s is G.sample_latents(1, seed=s)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--batch-size", type=positive_int(), default=16, help="images per forward pass (default 16)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_arguments(parser)


def jobs_from_arguments(generator, args: argparse.Namespace) -> list[RenderJob]:
    """The render jobs ``--edit/--edits/--zoo/--original`` name, with their factors loaded (validated)."""
    from ..formats.edit_zoo import load_edit_zoo

    check_float("--alpha", args.alpha, low=None, allow_none=True)
    if args.edits is not None:
        if args.zoo is not None:
            raise InvalidInputError("give either --edits FILE or --zoo, not both")
        zoo = load_edit_zoo(args.edits)
        names = args.edit or list(zoo)
    else:
        if not args.edit:
            raise InvalidInputError("name the edits: --edit NAME (repeatable) and/or --edits FILE")
        zoo = load_edit_zoo(args.zoo if args.zoo is not None else getattr(generator, "name", ""))
        names = args.edit
    jobs = [RenderJob(ORIGINAL)] if args.original else []
    for name in names:
        if name == ORIGINAL:
            raise InvalidInputError(f"an edit may not be named {ORIGINAL!r} (the folder of the unedited images)")
        zoo[name]  # unknown names fail here, with the zoo's suggestions
        jobs.append(RenderJob(name, zoo=zoo, edit=name, model=zoo.load_model(name, generator, root=args.root), alpha=args.alpha))
    return jobs


def run(args: argparse.Namespace) -> int:
    from ..generators import load_generator
    from .fit import report_error, resolve_device

    try:
        seeds = parse_seeds(args.seeds)
        device = resolve_device(args.device)
        with distributed.process_group(device, timeout=args.timeout) as w:

            def prepare():
                generator = load_generator(args.generator, device=device)
                return generator, jobs_from_arguments(generator, args)

            generator, jobs = distributed.agree(prepare, "loading the generator and the edits")
            manifest = render_edits(generator, jobs, seeds, args.out, batch_size=args.batch_size,
                                    progress=False if args.no_progress else None)
            if w.is_main:
                print(f"{manifest['n_written']} images written, {manifest['n_files'] - manifest['n_written']} already there; "
                      f"manifest: {Path(args.out) / MANIFEST}", flush=True)
    except (PandaVizError, ValueError, TypeError, OSError, KeyError) as err:
        return report_error("render", err)
    return 0
