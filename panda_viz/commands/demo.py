"""``panda-viz demo``: fit PandA on the embedded face GAN and write labelled figures.

Loads the embedded DigiFace DCGAN, fits PandA factors at one layer (streaming its
features), and writes to ``--out`` (default ``figures/demo``):

- ``parts.png``: the learnt parts, and the parts overlaid on sample images;
- ``saliency.png``: saliency maps a_kᵀ Z_i of the first appearances, and their
  thresholded localisation [m ≥ μ_k];
- ``edits.png``: local edits (part × appearance × α), the appearances chosen by
  :func:`panda_viz.editing.ranking.rank_appearances` for the parts nearest the image centre;
- ``removal.png``: context-aware object removal with the proposed background appearance,
  and background removal with its thresholded saliency;
- ``named_edits.png``: the named edits of the generator's edit zoo (``white_lips``,
  ``plain_background`` …, made with the factors shipped beside it), by name;
- ``real_photo.png``: a real photo (matplotlib's sample portrait, or ``--photo``) inverted
  with :func:`panda_viz.invert`, its reconstruction, the named edits and a removal on it.

It prints what it wrote and how long each step took. All figures are rendered in memory
and written at the end (each atomically), so a failure leaves no partial output.

The default layer is ``main.5`` (256 × 8 × 8): its parts are semantic regions (hair line,
eyes, mouth, cheeks, the sides of the frame), whereas at ``main.8`` (16 × 16) several parts
come out as the checkerboard of the DCGAN's stride-2 transposed convolutions.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..exceptions import InvalidInputError
from ..fileio.atomic import atomic_path
from ..imaging import render

DEFAULT_LAYER = "main.5"
GENERATOR = "dcgan-digiface"
N_SHOW = 6  # sample images in the figures
N_SALIENCY = 6  # first appearances shown in saliency.png
N_CANDIDATES = 24  # the first appearances (HOSVD order), ranked per part for edits.png
N_RANK_SAMPLES = 2  # samples the ranking averages over
PHOTO_BOX = (80, 30, 450, 400)  # the face in matplotlib's grace_hopper.jpg, placed as the generator places faces


#: Samples a demo fits on at most (its features stream, but time grows with them).
MAX_SAMPLES = 1_000_000
#: Steps of each inversion stage at most (--photo-steps).
MAX_PHOTO_STEPS = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .arguments import MAX_RANK, existing_file, output_folder, positive_int, seed

    parser.add_argument("--out", type=output_folder, default=Path("figures/demo"),
                        help="folder for the figures (default: figures/demo)")
    parser.add_argument("--layer", default=DEFAULT_LAYER, help=f"layer to factorise (default: {DEFAULT_LAYER})")
    parser.add_argument("--n-samples", type=positive_int(MAX_SAMPLES), default=512,
                        help="samples the factors are fitted on (default: 512)")
    parser.add_argument("--n-parts", type=positive_int(MAX_RANK), default=8, help="number of parts (default: 8)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the latents and of the fit (default: 0)")
    parser.add_argument("--photo", type=existing_file, default=None,
                        help="a face photo for real_photo.png (default: matplotlib's grace_hopper.jpg, face crop)")
    parser.add_argument("--photo-steps", type=positive_int(MAX_PHOTO_STEPS), default=None,
                        help="optimisation steps of each inversion stage (default: panda_viz.invert's)")


class _Steps:
    """Run named steps, timing each and printing one line per step."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.times = total, 0, {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        self.done += 1
        self.times[name] = elapsed
        print(f"[{self.done}/{self.total}] {name} ({elapsed:.1f} s)", flush=True)
        return result


# ---------------------------------------------------------------------------- figures
def _figure(nrows: int, ncols: int, *, panel: float = 1.45, top: float = 0.4):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(ncols * panel + 1.1, nrows * panel + top), layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig, axes


def _signed(value: float) -> str:
    return "0" if value == 0 else f"{value:+.2g}"


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _parts_figure(model, images: np.ndarray) -> bytes:
    masks = render.normalize_maps(model.parts_)
    n_parts, ncols = len(masks), max(len(masks), len(images))
    fig, axes = _figure(3, ncols)
    colours = render.part_colors(n_parts)
    size = images.shape[1:3]
    for k in range(ncols):
        ax = axes[0, k]
        if k < n_parts:
            ax.imshow(render.heatmap(render.upsample(masks[k], size), cmap="viridis"))
            ax.set_title(f"part {k}", fontsize=9, color=colours[k])
        else:
            ax.set_visible(False)
        for row, image in ((1, images[k] if k < len(images) else None),
                           (2, render.overlay_parts(images[k], model.parts_, opacity=0.5) if k < len(images) else None)):
            if image is None:
                axes[row, k].set_visible(False)
            else:
                axes[row, k].imshow(image)
    axes[1, 0].set_ylabel("samples", fontsize=9)
    axes[2, 0].set_ylabel("parts overlaid", fontsize=9)
    fig.suptitle(f"PandA parts at {model.layer_} (normalised to [0, 1]) and overlaid on samples (colour = strongest part)", fontsize=10)
    return _png(fig)


def _saliency_figure(model, Z, images, thresholds, background: int) -> bytes:
    from ..editing.saliency import localize, saliency_maps

    ks = list(range(min(N_SALIENCY, model.appearances_.shape[1])))
    n = min(4, len(images))
    m = saliency_maps(model, Z[:n], ks)
    masks = localize(model, Z[:n], ks, thresholds=thresholds[ks], size=images.shape[1:3])
    fig, axes = _figure(len(ks), 2 * n)
    for r, k in enumerate(ks):
        for i in range(n):
            axes[r, i].imshow(render.overlay_heatmap(images[i], m[i, r], opacity=0.75, cmap="inferno"))
            axes[r, n + i].imshow(render.apply_mask(images[i], masks[i, r].numpy(), fill=(0, 0, 0)))
        name = f"appearance {k}" + ("\n(background)" if k == background else "")
        axes[r, 0].set_ylabel(name, fontsize=9)
    axes[0, 0].set_title("saliency $a_k^T Z_i$", fontsize=9, loc="left")
    axes[0, n].set_title(r"localised: $a_k^T Z_i \geq \mu_k$", fontsize=9, loc="left")
    fig.suptitle(f"Saliency maps of the first {len(ks)} appearances at {model.layer_}", fontsize=10)
    return _png(fig)


def _edits_figure(model, images, edited: dict, rows: list, n_cols: int) -> bytes:
    fig, axes = _figure(len(rows), n_cols + 1)
    for r, (term, sample) in enumerate(rows):
        axes[r, 0].imshow(render.overlay_parts(images[sample], model.parts_[[term.part]], opacity=0.6))
        axes[r, 0].set_ylabel(f"sample {sample}", fontsize=8)
        if r == 0:
            axes[r, 0].set_title("edited part", fontsize=9)
        for c in range(n_cols):
            image, alpha = edited[(r, c)]
            axes[r, c + 1].imshow(image)
            axes[r, c + 1].set_title(f"part {term.part} × appearance {term.appearance}, α = {_signed(alpha)}", fontsize=6.5)
    fig.suptitle("Local edits Z + α a_j p̂_kᵀ; appearances ranked by change inside the part minus outside", fontsize=10)
    return _png(fig)


def _rows_figure(images, rows: dict[str, np.ndarray], title: str) -> bytes:
    """The originals on top, then one labelled row of images per entry of ``rows``."""
    n = len(images)
    fig, axes = _figure(len(rows) + 1, n)
    for i in range(n):
        axes[0, i].imshow(images[i])
    axes[0, 0].set_ylabel("original", fontsize=9)
    for r, (label, row) in enumerate(rows.items(), start=1):
        for i in range(n):
            axes[r, i].imshow(row[i])
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def _photo_figure(row: dict[str, np.ndarray]) -> bytes:
    fig, axes = _figure(1, len(row), top=0.55)
    for ax, (label, image) in zip(axes[0], row.items()):
        ax.imshow(image)
        ax.set_title(label.replace("_", " "), fontsize=7.5)
    fig.suptitle("A real photo inverted into the generator (panda_viz.invert), then the zoo's named edits and a removal",
                 fontsize=10)
    return _png(fig)


# ---------------------------------------------------------------------------- the job
def _central_parts(parts: torch.Tensor, n: int) -> list[int]:
    """The ``n`` parts whose centre of mass lies nearest the image centre (where the object is)."""
    R, H, W = parts.shape
    weights = parts / parts.sum((1, 2), keepdim=True).clamp_min(1e-12)
    ys, xs = torch.meshgrid(torch.arange(H) - (H - 1) / 2, torch.arange(W) - (W - 1) / 2, indexing="ij")
    cy, cx = (weights * ys).sum((1, 2)), (weights * xs).sum((1, 2))
    return torch.argsort(cy.pow(2) + cx.pow(2)).tolist()[:n]


def run(args: argparse.Namespace) -> int:
    # no autograd for the demo's passes (invert turns it on for its own steps); a context,
    # not torch.set_grad_enabled(False), which would leave the caller's process without grad
    with torch.no_grad():
        return _run(args)


def _features(G, model, layer: str, n_samples: int, seed: int):
    """μ_k from the features of up to 256 samples, the proposed background appearance, and the
    samples shown: (thresholds, background, z_show, Z_show, images)."""
    from ..editing.removal import propose_background_appearance
    from ..editing.saliency import saliency_thresholds

    z_stats = G.sample_latents(min(n_samples, 256), seed=seed)
    Z_stats = G.features(z_stats, layer)
    thresholds = saliency_thresholds(model, Z_stats)
    background = propose_background_appearance(model, Z_stats, thresholds=thresholds[:16])
    z_show = G.sample_latents(N_SHOW, seed=seed + 1)
    return thresholds, background, z_show, G.features(z_show, layer), render.to_uint8(G.synthesize(z_show))


def _edits(G, model, z_show: torch.Tensor, images: np.ndarray, n_channels: int) -> tuple[bytes, list]:
    """edits.png: the two best-ranked appearances of the two central parts, at five strengths each
    (ranked among the first ``N_CANDIDATES`` of the layer's ``n_channels`` appearances)."""
    from ..editing.edits import EditTerm, edit_images
    from ..editing.ranking import rank_appearances

    rows = []
    for k in _central_parts(model.parts_, 2):
        ranking = rank_appearances(G, z_show[:N_RANK_SAMPLES], model, k, candidates=min(N_CANDIDATES, n_channels))
        rows += [(term, len(rows) % N_SHOW) for term in ranking.terms(k, top=2)]
        rows = [(term, r % N_SHOW) for r, (term, _) in enumerate(rows)]
    multiples = [-2.0, -1.0, 0.0, 1.0, 2.0]
    edited = {}
    for r, (term, sample) in enumerate(rows):
        for c, multiple in enumerate(multiples):
            alpha = multiple * abs(term.alpha)
            x = edit_images(G, z_show[sample : sample + 1], model, EditTerm(term.part, term.appearance, alpha))
            edited[(r, c)] = (render.to_uint8(x)[0], alpha)
    return _edits_figure(model, images, edited, rows, len(multiples)), rows


def _removal(G, model, z_show: torch.Tensor, images: np.ndarray, thresholds, background: int) -> bytes:
    """removal.png: the central part removed (added and replaced), and the background removed."""
    from ..editing.removal import remove_images
    from ..editing.saliency import fill_images

    region = _central_parts(model.parts_, 1)[0]
    rows = {
        f"remove part {region}\n(add α a_{background})": remove_images(G, z_show, model, region, background),
        f"remove part {region}\n(replace)": remove_images(G, z_show, model, region, background, method="replace"),
        f"background removal\n(appearance {background})": fill_images(
            G, z_show, model, background, thresholds=thresholds[background]
        ),
    }
    return _rows_figure(images, {k: render.to_uint8(v) for k, v in rows.items()},
                        "Context-aware removal with the background appearance, and background removal")


def _named_edits(G, z_show: torch.Tensor, images: np.ndarray) -> tuple[bytes, list[str]]:
    """named_edits.png: every named edit of the generator's shipped zoo."""
    from ..formats.edit_zoo import load_edit_zoo

    zoo = load_edit_zoo(GENERATOR)
    rows = {name: render.to_uint8(zoo.apply(G, z_show, name)) for name in zoo}
    return _rows_figure(images, rows, f"Named edits of the edit zoo {zoo.name!r} (its own shipped factors)"), list(zoo)


def _photo(G, photo: Path | None, n_steps: int | None):
    """real_photo.png: a photo inverted, its reconstruction, the zoo's named edits and a removal on it."""
    from ..editing.removal import propose_background_appearance, remove_images
    from ..formats.edit_zoo import load_edit_zoo
    from ..inversion.invert import invert

    zoo = load_edit_zoo(GENERATOR)
    if photo is None:
        from matplotlib import cbook

        source, box = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), PHOTO_BOX
    else:
        source, box = photo, None
    kwargs = {} if n_steps is None else dict(latent_steps=n_steps, feature_steps=n_steps, tune_steps=n_steps)
    inversion = invert(G, source, box=box, progress=False, **kwargs)
    model_zoo = zoo.load_model(next(iter(zoo)), G)
    row = {"photo (cropped)": render.to_uint8(inversion.target)[0],
           f"reconstruction\n{float(inversion.psnr[0]):.1f} dB": render.to_uint8(inversion.reconstruction)[0]}
    row.update({name: render.to_uint8(zoo.apply(G, inversion, name, model=model_zoo))[0] for name in zoo})
    zoo_layer = model_zoo.layer_
    zoo_background = propose_background_appearance(model_zoo, G.features(G.sample_latents(256, seed=0), zoo_layer))
    part = zoo["dark_eyes_and_nose"].part
    row[f"remove part {part}\n(background {zoo_background})"] = render.to_uint8(
        remove_images(G, inversion, model_zoo, part, zoo_background))[0]
    return _photo_figure(row), inversion


def _run(args: argparse.Namespace) -> int:
    from ..decomposition import fit_generator
    from ..generators import load_generator

    steps = _Steps(9)
    out = Path(args.out)
    G = steps(f"loaded generator {GENERATOR}", lambda: load_generator(GENERATOR))
    try:
        G.check_layer(args.layer)  # its message names the near misses, then every layer
    except InvalidInputError as error:
        print(f"panda-viz demo: {error}", file=sys.stderr)
        return 2
    C, H, W = G.layers[args.layer]
    if args.n_parts > H * W:
        print(f"panda-viz demo: --n-parts must be at most H×W = {H * W} at layer {args.layer}; got {args.n_parts}", file=sys.stderr)
        return 2

    model = steps(
        f"fitted PandA at {args.layer} ({C}×{H}×{W}) on {args.n_samples} samples, {args.n_parts} parts",
        lambda: fit_generator(G, args.layer, n_samples=args.n_samples, seed=args.seed, n_parts=args.n_parts,
                              random_state=args.seed),
    )
    print(f"      relative objective {model.objective_:.4f} after {model.n_iter_} iterations ({model.solver_} solver)")

    thresholds, background, z_show, Z_show, images = steps(
        "saliency thresholds μ_k and background proposal",
        lambda: _features(G, model, args.layer, args.n_samples, args.seed),
    )
    print(f"      proposed background appearance: {background}")

    figures: dict[str, bytes] = {}
    figures["parts.png"] = steps("rendered parts", lambda: _parts_figure(model, images))
    figures["saliency.png"] = steps(
        "rendered saliency maps", lambda: _saliency_figure(model, Z_show, images, thresholds, background)
    )
    figures["edits.png"], rows = steps("ranked appearances and rendered local edits",
                                       lambda: _edits(G, model, z_show, images, C))
    for term, _ in rows:
        print(f"      edit: {term.label()}")
    figures["removal.png"] = steps("rendered object and background removal",
                                   lambda: _removal(G, model, z_show, images, thresholds, background))
    figures["named_edits.png"], names = steps(f"rendered the named edits of the edit zoo {GENERATOR!r}",
                                              lambda: _named_edits(G, z_show, images))
    print(f"      named edits: {', '.join(names)}")
    figures["real_photo.png"], inversion = steps("inverted a real photo and edited it",
                                                 lambda: _photo(G, args.photo, args.photo_steps))
    print(f"      photo reconstruction: {float(inversion.psnr[0]):.1f} dB PSNR "
          f"(stages: {', '.join(f'{k} {float(v[0]):.1f} dB' for k, v in inversion.stage_psnr.items())})")

    for name, data in figures.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(data)
        print(f"wrote {out / name}")
    print(f"done in {sum(steps.times.values()):.1f} s")
    return 0
