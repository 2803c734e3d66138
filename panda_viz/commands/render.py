"""``panda-viz render``: write the images of edits for a range of seeds to a folder, across ranks.

An edit is a named edit of an edit zoo (``--edits FILE`` as the Explorer saves it, or a
shipped zoo with ``--edit NAME``), all its terms applied together, or terms given on the
command line with the factors ``panda-viz fit`` wrote (``--factors FILE --term
PART:APPEARANCE:ALPHA …``, one folder ``--name``, default ``edit``): the factors are checked
against the generator and the layer they record.

The seeds ``A:B`` are cut into batches of ``--batch-size`` consecutive seeds (seed s is
the latent ``G.sample_latents(1, seed=s)``); inside a ``torch.distributed`` process group
each rank renders a contiguous run of whole batches, so every image is computed in exactly
the batch a single process would use and the files are byte-identical whatever the number
of ranks. Files are written atomically as ``OUT/<edit>/<seed>.png`` (``OUT/original/`` for
the unedited images with ``--original``), and nothing is read or written outside ``OUT``
(:class:`~panda_viz.fileio.confined.ConfinedFolder`: no link is followed inside it). Each
rank journals the files it finishes; a file counts as done only when it is a regular file
of the size and SHA-256 a record of an earlier run gives
(:mod:`panda_viz.commands.render_records`), so an interrupted run resumes where it
stopped and anything else is rendered again. Rank 0 shows a progress bar and, once every
rank has finished, writes ``OUT/manifest.json``: every file of the job with its seed,
edit, size, SHA-256 and whether this run wrote it.

::

    panda-viz render dcgan-digiface --edit white_lips --edit dark_moustache --seeds 0:1000 --out renders/
    panda-viz render dcgan-digiface --edits results/my-edits.json --seeds 0:100000 --out renders/
    panda-viz fit dcgan-digiface --layer main.5 --samples 2000 --parts 8 --out fit/factors.npz
    panda-viz render dcgan-digiface --factors fit/factors.npz --term 3:5:2.5 --term 1+2:7:-1 --name pale_mouth \\
        --seeds 0:100 --out renders/
    torchrun --nproc-per-node=4 -m panda_viz.commands.cli render … (the same, four ranks)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._checks import check_float, describe
from ..exceptions import (
    InvalidInputError,
    InvalidTypeError,
    PandaVizError,
    ResourceLimitError,
)
from ..fileio.confined import ConfinedFolder
from ..runtime import distributed
from ..runtime.progress import progress as _progress
from .arguments import MAX_ALPHA, MAX_SEED
from .render_records import (
    MANIFEST,
    Record,
    journal_name,
    manifest_text,
    read_records,
    record_line,
    remove_journals,
)

__all__ = ["RenderJob", "render_edits", "parse_seeds", "MANIFEST", "ORIGINAL", "MAX_FILES", "DEFAULT_BATCH",
           "add_arguments", "run"]

#: The folder of the unedited images.
ORIGINAL = "original"
SEED_DIGITS = 8
#: Images one run renders at most (seeds × folders): the manifest and the records stay small.
MAX_FILES = 500_000
#: Images per forward pass when none is asked for (fewer when the generator's memory budget says so).
DEFAULT_BATCH = 16
#: What a render job's folder may be called: one plain word (no separator, no leading dot).
_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


@dataclass(frozen=True)
class RenderJob:
    """One folder of images: a named edit of a zoo with its factors, terms with their factors, or the
    unedited images (neither ``edit`` nor ``terms``).

    Attributes
    ----------
    name : str
        The folder.
    zoo, edit, alpha
        A named edit: the zoo, the edit's name, an α override (one-term edits only).
    model : fitted PandA
        The factors of ``edit`` or ``terms``.
    terms : tuple of (part, appearance, alpha)
        Terms applied together with ``model`` at its layer (``panda-viz render --factors``).
    factors : str, optional
        Where ``model`` was read from, for the manifest.
    """

    name: str
    zoo: Any = None
    edit: str | None = None
    model: Any = None
    alpha: float | None = None
    terms: tuple = ()
    factors: str | None = None


def parse_seeds(text: str) -> range:
    """``"A:B"`` -> ``range(A, B)`` (seeds A … B-1, 0 <= A < B <= 2**63, at most :data:`MAX_FILES` seeds).

    The bounds are read as digits and compared as integers: ``0:1e30`` and 30-digit bounds
    are refused here, before anything is built.
    """
    match = re.fullmatch(r"\s*(\d{1,20})\s*:\s*(\d{1,20})\s*", str(text))
    if not match or int(match[1]) >= int(match[2]):
        raise InvalidInputError(f"--seeds must be A:B with integers 0 <= A < B (seeds A … B-1); got {describe(text)}")
    start, stop = int(match[1]), int(match[2])
    if stop > MAX_SEED + 1:
        raise InvalidInputError(f"--seeds {start}:{stop}: a seed is at most 2**63 - 1 = {MAX_SEED} (B at most {MAX_SEED + 1})")
    if stop - start > MAX_FILES:
        raise ResourceLimitError(f"--seeds {start}:{stop} asks for {stop - start:,} seeds; one render makes at most "
                                 f"{MAX_FILES:,} images: split the range over several runs")
    return range(start, stop)


def _check_seeds(seeds: Any, n_jobs: int) -> range:
    if not isinstance(seeds, range) or seeds.step != 1 or seeds.start < 0 or seeds.stop <= seeds.start:
        raise InvalidInputError(f"render_edits: seeds must be a non-empty range(A, B) with 0 <= A < B; got {describe(seeds)}")
    count = seeds.stop - seeds.start  # not len(): it overflows past 2**63
    if seeds.stop > MAX_SEED + 1:
        raise InvalidInputError(f"render_edits: seeds up to {seeds.stop - 1} asked; a seed is at most {MAX_SEED}")
    if count * n_jobs > MAX_FILES:
        raise ResourceLimitError(f"render_edits: {count:,} seeds × {n_jobs} folders = {count * n_jobs:,} images; one "
                                 f"render makes at most {MAX_FILES:,}: split the seeds over several runs")
    return seeds


def _check_jobs(jobs: Any) -> list[RenderJob]:
    if not isinstance(jobs, (list, tuple)) or not all(isinstance(j, RenderJob) for j in jobs):
        raise InvalidTypeError(f"render_edits: jobs must be a list of RenderJob; got {describe(jobs)}")
    names = [job.name for job in jobs]
    if not jobs or len(set(names)) != len(names):
        raise InvalidInputError(f"render needs at least one edit, each named once; got {names}")
    for name in names:
        if not isinstance(name, str) or not _FOLDER.fullmatch(name) or name == MANIFEST:
            raise InvalidInputError(f"render: {describe(name)} cannot name a folder of images (one word of letters, "
                                    f"digits, _ . + -, at most 100 characters, not {MANIFEST!r})")
    return list(jobs)


def _file_name(seed: int) -> str:
    return f"{seed:0{SEED_DIGITS}d}.png"


def _images(generator, job: RenderJob, latents: torch.Tensor) -> torch.Tensor:
    if job.terms:
        from ..editing.edits import edit_images

        return edit_images(generator, latents, job.model, list(job.terms), batch_size=len(latents))
    if job.edit is None:
        return generator.synthesize(latents, batch_size=len(latents))
    from ..formats.edit_zoo import apply_named_edit

    return apply_named_edit(generator, latents, job.model, job.edit, zoo=job.zoo, alpha=job.alpha, batch_size=len(latents))


def _wanted(jobs: list[RenderJob], seeds: range) -> Any:
    """Whether a record's ``file`` is one of this rank's images (no set of every name is built)."""
    folders = {job.name for job in jobs}
    pattern = re.compile(r"([^/]+)/(\d{%d,20})\.png" % SEED_DIGITS)

    def wanted(name: str) -> bool:
        match = pattern.fullmatch(name)
        return bool(match) and match[1] in folders and int(match[2]) in seeds and _file_name(int(match[2])) == name[len(match[1]) + 1:]

    return wanted


def render_edits(
    generator,
    jobs: list[RenderJob],
    seeds: range,
    out: str | Path,
    *,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Render ``jobs`` for ``seeds`` into ``out``, sharded across ranks, resumable; returns the manifest.

    Every file is read and written inside ``out`` only: a link or a file where a job's
    folder should be is refused (:class:`~panda_viz.exceptions.UnsafePathError` /
    :class:`~panda_viz.exceptions.FileWriteError`), an image counts as done only as
    :mod:`panda_viz.commands.render_records` says (a regular file of the recorded size and
    SHA-256), and anything else at an image's name, a link included, is replaced by a
    fresh rendering (the link itself, never what it points to).

    Parameters
    ----------
    generator : panda_viz.Generator
    jobs : list of RenderJob
        Distinct names (each is a sub-folder of ``out``: one word, see :class:`RenderJob`).
    seeds : range
        Seed s renders the latent ``generator.sample_latents(1, seed=s)``; at most
        :data:`MAX_FILES` images in all (seeds × jobs).
    out : path
        The output folder (made if missing). The path may pass through links; nothing inside it may.
    batch_size : int, optional
        Seeds per forward pass; also the unit of sharding. At most what fits in the
        generator's memory budget (None: :data:`DEFAULT_BATCH`, or fewer if the budget says so).
    progress : bool or None
        Rank 0's progress bar (``None``: for 1000 images or more).

    Returns
    -------
    dict
        The manifest written to ``out/manifest.json`` (on every rank).

    Raises
    ------
    InvalidInputError, ResourceLimitError
        Bad jobs, seeds or batch size (before any work).
    UnsafePathError, FileWriteError
        A job's folder is a link or a file; a write failed (a full disk, the file-size limit).
    DistributedError
        Inside a process group, when anything fails on any rank (every rank raises it);
        the images already written stay (they are complete), the manifest is not written.
    """
    from .fit import check_batch_size

    jobs = _check_jobs(jobs)
    seeds = _check_seeds(seeds, len(jobs))
    w = distributed.world()
    batch_size = distributed.agree(
        lambda: check_batch_size(generator, batch_size, None, where="render_edits: batch_size", default=DEFAULT_BATCH),
        "checking the batch size")
    n_seeds = seeds.stop - seeds.start
    first, last = distributed.shard_units(-(-n_seeds // batch_size), w.rank, w.size,
                                          what=f"seeds {seeds.start}:{seeds.stop}", units=f"batches of {batch_size} seeds")
    mine = range(seeds.start + first * batch_size, seeds.start + min(last * batch_size, n_seeds))

    def prepare() -> tuple[ConfinedFolder, dict[str, ConfinedFolder], dict[str, Record]]:
        root = ConfinedFolder(out, where="--out") if isinstance(out, (str, os.PathLike)) and str(out).strip() else None
        if root is None:
            raise InvalidInputError(f"render: --out must name a folder; got {describe(out)}")
        folders = {job.name: root.subfolder(job.name) for job in jobs}
        for folder in folders.values():
            folder.remove_stale_temporaries()
        return root, folders, read_records(root, _wanted(jobs, mine), warn=w.is_main)

    root, folders, records = distributed.agree(prepare, "opening the output folder")
    try:
        files = _render_and_gather(generator, jobs, mine, batch_size, root, folders, records, progress, n_seeds)
        manifest = {
            "generator": getattr(generator, "name", None),
            "seeds": [seeds.start, seeds.stop],
            "edits": [_manifest_entry(job) for job in jobs],
            "batch_size": batch_size,
            "world_size": w.size,
            "n_files": len(files),
            "n_written": sum(r["written"] for r in files),
        }

        def write() -> None:
            if w.is_main:
                root.write(MANIFEST, manifest_text(manifest, files).encode("utf-8"))
                remove_journals(root)

        distributed.agree(write, "writing the manifest")
    finally:
        for folder in (root, *folders.values()):
            folder.close()
    return {**manifest, "files": files}


def _manifest_entry(job: RenderJob) -> dict[str, Any]:
    """What the manifest says of one folder: its zoo and edit, or its factors file and terms."""
    if job.terms:
        return {"name": job.name, "factors": job.factors,
                "terms": [[list(p) if isinstance(p, tuple) else p, a, al] for p, a, al in job.terms]}
    return {"name": job.name, "zoo": None if job.zoo is None else job.zoo.name, "edit": job.edit, "alpha": job.alpha}


def _render_and_gather(generator, jobs, mine: range, batch_size: int, root: ConfinedFolder, folders, records,
                       progress, n_seeds: int) -> list[dict]:
    """Render this rank's seeds (skipping verified files), journal each batch, and gather every rank's records."""
    from ..imaging.render import png_bytes, to_uint8

    w = distributed.world()
    journal = journal_name(w.rank)
    order = {job.name: i for i, job in enumerate(jobs)}

    def render_shard() -> list[dict]:
        entries = []
        batches = range(mine.start, mine.stop, batch_size)
        bar = _progress(batches, total=len(batches), enabled=progress if w.is_main else False, n_samples=n_seeds * len(jobs),
                        desc=f"render (rank 0 of {w.size})" if w.active else "render", unit="batch")
        for a in bar:
            batch_seeds = range(a, min(a + batch_size, mine.stop))
            latents = None
            for job in jobs:
                folder, done = folders[job.name], []
                for s in batch_seeds:
                    record = records.get(f"{job.name}/{_file_name(s)}")
                    ok = record is not None and folder.sha256(_file_name(s), record.size) == record.sha256
                    done.append(record if ok else None)
                new = []
                if not all(done):
                    if latents is None:
                        latents = torch.cat([generator.sample_latents(1, seed=s) for s in batch_seeds])
                    images = to_uint8(_images(generator, job, latents))
                    for i, (s, image) in enumerate(zip(batch_seeds, images)):
                        if done[i] is None:
                            data = png_bytes(image)
                            folder.write(_file_name(s), data)
                            done[i] = Record(len(data), hashlib.sha256(data).hexdigest())
                            new.append(i)
                batch = [{"file": f"{job.name}/{_file_name(s)}", "edit": job.name, "seed": s, "size": r.size,
                          "sha256": r.sha256, "written": i in new} for i, (s, r) in enumerate(zip(batch_seeds, done))]
                if new:  # what a later run may trust, should this one be killed
                    root.append_lines(journal, [record_line(e) for e in batch if e["written"]])
                entries += batch
        return entries

    entries = distributed.agree(render_shard, "rendering")
    gathered = distributed.gather_objects(entries, what="gathering the manifest")
    return sorted((r for part in gathered for r in part), key=lambda r: (order[r["edit"]], r["seed"]))


# ------------------------------------------------------------------------------ command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .arguments import MAX_BATCH, edit_term, output_folder, positive_int
    from .fit import add_device_arguments

    parser.add_argument("generator", help="a registered generator name (e.g. dcgan-digiface) or a checkpoint file")
    parser.add_argument("--edit", action="append", default=[], metavar="NAME",
                        help="a named edit (repeatable): of --edits if given, else of --zoo")
    parser.add_argument("--edits", type=Path, default=None, metavar="FILE",
                        help="a saved edit list (an edit zoo .json, EditZoo.save): render all its edits, or those named by --edit")
    parser.add_argument("--zoo", default=None,
                        help="the edit zoo of --edit: a shipped zoo name or a .json (default: the generator's shipped zoo)")
    parser.add_argument("--root", type=Path, default=None, help="folder of the zoo's factor files (default: beside the zoo)")
    parser.add_argument("--factors", type=Path, default=None, metavar="FILE",
                        help="saved factors (the .npz panda-viz fit writes): render the edit of the --term options, at "
                             "the layer the factors were fitted at")
    parser.add_argument("--term", action="append", type=edit_term, default=[], metavar="PART:APPEARANCE:ALPHA",
                        help="a term of the --factors edit (repeatable; the terms are applied together): part index, "
                             "or parts joined by + (1+2); appearance index; strength α")
    parser.add_argument("--name", default="edit",
                        help="the folder of the --factors edit (default: edit)")
    parser.add_argument("--layer", default=None,
                        help="the layer of the --factors edit, needed only when the factors file does not record it "
                             "(panda-viz fit's always does); must agree with it otherwise")
    parser.add_argument("--alpha", type=float, default=None,
                        help=f"override the strength α of every one-term named edit (a finite number, |α| ≤ {MAX_ALPHA:g})")
    parser.add_argument("--original", action="store_true", help="also write the unedited images (folder 'original')")
    parser.add_argument("--seeds", required=True,
                        help=f"seeds A:B (A … B-1, at most {MAX_FILES:,} images in all); seed s is G.sample_latents(1, seed=s)")
    parser.add_argument("--out", type=output_folder, required=True, help="output folder (nothing is written outside it)")
    parser.add_argument("--batch-size", type=positive_int(MAX_BATCH), default=None,
                        help=f"images per forward pass (default {DEFAULT_BATCH}, or fewer if they do not fit in the memory budget)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_arguments(parser)


def jobs_from_arguments(generator, args: argparse.Namespace) -> list[RenderJob]:
    """The render jobs ``--edit/--edits/--zoo/--factors/--original`` name, with their factors loaded (validated)."""
    from ..formats.edit_zoo import load_edit_zoo

    check_float("--alpha", args.alpha, low=-MAX_ALPHA, high=MAX_ALPHA, strict=False, allow_none=True)
    jobs = [RenderJob(ORIGINAL)] if args.original else []
    if args.factors is not None or args.term:
        return [*jobs, _terms_job(generator, args)]
    if args.layer is not None:
        raise InvalidInputError("--layer goes with --factors (a named edit records its layer)")
    if args.edits is not None:
        if args.zoo is not None:
            raise InvalidInputError("give either --edits FILE or --zoo, not both")
        _check_kind(args.edits, "zoo", "--edits")
        zoo = load_edit_zoo(args.edits)
        names = args.edit or list(zoo)
    else:
        if not args.edit:
            raise InvalidInputError("name the edits: --edit NAME (repeatable) and/or --edits FILE, "
                                    "or --factors FILE --term PART:APPEARANCE:ALPHA")
        zoo = load_edit_zoo(args.zoo if args.zoo is not None else getattr(generator, "name", ""))
        names = args.edit
    for name in names:
        if name == ORIGINAL:
            raise InvalidInputError(f"an edit may not be named {ORIGINAL!r} (the folder of the unedited images)")
        edit = zoo[name]  # unknown names fail here, with the zoo's suggestions
        if args.alpha is not None and len(edit.terms) > 1:
            raise InvalidInputError(f"--alpha overrides the α of one-term edits; edit {name!r} has {len(edit.terms)} "
                                    "terms, each with its own α (leave --alpha out, or save the edit with other α)")
        jobs.append(RenderJob(name, zoo=zoo, edit=name, model=zoo.load_model(name, generator, root=args.root), alpha=args.alpha))
    return jobs


def _terms_job(generator, args: argparse.Namespace) -> RenderJob:
    """The ``--factors FILE --term …`` job, its factors checked against the generator and every term against them."""
    from ..decomposition.fitted import check_compatible
    from ..editing.edits import EditTerm, check_terms
    from ..formats.factors import load_factors

    if args.factors is None:
        raise InvalidInputError("--term needs --factors FILE (the saved factors the terms index, e.g. from panda-viz fit)")
    given = [option for option, used in (("--edits", args.edits is not None), ("--edit", bool(args.edit)),
                                         ("--zoo", args.zoo is not None), ("--root", args.root is not None),
                                         ("--alpha", args.alpha is not None)) if used]
    if given:
        raise InvalidInputError(f"--factors renders the --term options as one edit; {' and '.join(given)} "
                                f"{'belongs' if len(given) == 1 else 'belong'} to named edits: leave "
                                f"{'it' if len(given) == 1 else 'them'} out (give each term its α in --term)")
    if not args.term:
        raise InvalidInputError("--factors needs at least one --term PART:APPEARANCE:ALPHA (e.g. --term 3:5:2.5)")
    if args.name == ORIGINAL:
        raise InvalidInputError(f"--name may not be {ORIGINAL!r} (the folder of the unedited images)")
    _check_kind(args.factors, "factors", "--factors")
    model = load_factors(args.factors)
    check_compatible(generator, model, args.layer)
    check_terms([EditTerm(*t) for t in args.term], n_parts=int(model.parts_.shape[0]),
                n_appearances=int(model.appearances_.shape[1]))
    return RenderJob(args.name, model=model, terms=tuple(args.term), factors=str(args.factors))


#: What a file's first bytes say it is, and the option that takes it.
_KINDS = {
    "factors": (b"PK\x03\x04", "saved factors (an .npz, as panda-viz fit writes)",
                "--factors FILE --term PART:APPEARANCE:ALPHA"),
    "array": (b"\x93NUMPY", "one .npy array (an official Us/Uc factor file?)", "--edits with the edit zoo that names it"),
    "zoo": (b"{", "JSON (an edit zoo, as the Explorer saves?)", "--edits FILE"),
}


def _check_kind(path: Path, expected: str, option: str) -> None:
    """Refuse, naming the right option, a file whose content is another kind than ``option`` takes."""
    try:
        with open(path, "rb") as f:
            head = f.read(16).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return  # the loader reports a missing or unreadable file in its own words
    for kind, (magic, what, use) in _KINDS.items():
        if kind != expected and head.startswith(magic):
            raise InvalidInputError(f"{option} {str(path)!r} holds {what}, which {option} does not take; use {use}")


def run(args: argparse.Namespace) -> int:
    from ..generators import load_generator
    from .fit import generator_options, report_error, resolve_device

    try:
        seeds = parse_seeds(args.seeds)
        device = resolve_device(args.device)
        with distributed.process_group(device, timeout=args.timeout, rendezvous_timeout=args.rendezvous_timeout) as w:
            options = generator_options(args, device)

            def prepare():
                generator = load_generator(args.generator, **options)
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
