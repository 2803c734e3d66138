"""``panda-viz figures``: re-execute the paper notebooks in place and re-index ``figures/``.

Every figure, table and ablation of the PandA paper has a notebook in ``notebooks/``
(named after the paper's numbering) that writes its figures to ``figures/``. This command
runs them again with nbclient, one kernel per notebook, in ``notebooks/`` as working
directory (as Jupyter and nbval do, so the notebooks' ``../figures`` paths land in
``figures/``), writes each executed notebook back atomically (a notebook that fails is
left exactly as it was), and rewrites ``figures/README.md``, the index of every PNG under
``figures/``: what it shows and what writes it (a notebook, or one of the commands and
tests declared in :data:`OTHER_PRODUCERS`).

    panda-viz figures                      # every notebook
    panda-viz figures fig3 table2          # only those whose name contains fig3 or table2
    panda-viz figures --list               # what would run, and the paper items
    panda-viz figures --index-only         # only rewrite figures/README.md

Notebooks also use :func:`save_figure` (matplotlib figures, atomic, fixed dpi).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import InvalidFileError, InvalidInputError, NotebookFailed
from ..fileio.atomic import atomic_path
from ..runtime.figure_folder import figure_destination

__all__ = [
    "PAPER_ITEMS",
    "OTHER_PRODUCERS",
    "add_arguments",
    "run",
    "default_root",
    "select_notebooks",
    "execute_notebook",
    "NotebookFailed",
    "figure_index",
    "written_figures",
    "write_index",
    "save_figure",
]

#: notebook stem -> the paper item it reproduces (PandA, ICLR 2023, unless it says otherwise)
PAPER_ITEMS: dict[str, str] = {
    "fig1_overview": "Fig. 1: overview (a local edit, an object removal and a saliency map of one sample)",
    "fig2_separable_model": "Fig. 2: the separable model (unfolding, HOSVD, parts, appearances, coefficients)",
    "fig3_object_removal": "Fig. 3: context-aware object removal with the background appearance",
    "fig4_saliency": "Fig. 4: saliency maps of the appearances and thresholded localisation with μ_k",
    "fig5_background_removal": "Fig. 5: background removal by thresholded saliency vs. a latent direction",
    "fig6_local_edits": "Fig. 6: local edits with global and refined parts",
    "fig7_baseline_comparison": "Fig. 7: PandA vs. SeFa, GANSpace, LowRankGAN and ReSeFa edits of one region, MSE maps",
    "fig8_ablation": "Fig. 8: ablation of constraints and form (MPCA, mode-3 MPCA, no non-negativity, PandA)",
    "fig9_refinement": "Fig. 9: refinement of the global parts on individual samples",
    "table1_training_time": "Table 1: the feature columns of all six methods, and their training times measured",
    "table2_roir": "Table 2 (and the project page's table): ROIR per region and SWD for all six methods",
    "solver_ablation": "Sec. 3.2 solver ablation: Algorithm 1 vs. Adam/autograd vs. the default solver",
    "sefa_resefa_headlines": "SeFa (CVPR 2021) and ReSeFa (ECCV 2022) headline figures on the embedded generator",
    "real_image_editing": "not a paper item: a real photo inverted (panda_viz.invert), then its parts, saliency, "
                          "named edits, removal and a painted-region edit",
    "explore": "the interactive Explorer (not a paper item)",
    "lesson_tensor_decompositions": "a lesson, not a paper item: unfoldings, SVD, HOSVD/Tucker, MPCA and PandA "
                                    "on real feature maps, with the RankExplorer",
}

#: PNGs under ``figures/`` that no notebook writes: path relative to ``figures/`` ->
#: (what it shows, what writes it). The index lists them beside the notebooks' figures.
OTHER_PRODUCERS: dict[str, tuple[str, str]] = {
    "demo/parts.png": ("the demo: the learnt parts, and the parts over sample images", "`panda-viz demo`"),
    "demo/saliency.png": ("the demo: saliency maps of the first appearances and their thresholded localisation",
                          "`panda-viz demo`"),
    "demo/edits.png": ("the demo: local edits (part × appearance × α) with the ranked appearances", "`panda-viz demo`"),
    "demo/removal.png": ("the demo: object removal with the background appearance, and background removal",
                         "`panda-viz demo`"),
    "demo/named_edits.png": ("the demo: the named edits of the edit zoo, by name", "`panda-viz demo`"),
    "demo/real_photo.png": ("the demo: a real photo inverted with panda_viz.invert, its reconstruction, the "
                            "named edits and a removal on it", "`panda-viz demo`"),
    "table2/table2_edits.png": ("Table 2 (the command's run): one selected edit per method and region",
                                "`panda-viz table2`"),
    "widgets/explorer.png": ("the Explorer's edit tab in JupyterLab, an edit in a painted region (screenshot)",
                             "`tests/browser/test_explorer_browser.py`"),
    "widgets/directions.png": ("the Explorer's directions tab: ReSeFa for the painted region (screenshot)",
                               "`tests/browser/test_explorer_browser.py`"),
    "widgets/explorer_photo.png": ("the Explorer on an uploaded photo: its inversion edited in the edit tab "
                                   "(screenshot)", "`tests/browser/test_explorer_browser.py`"),
}

INDEX_NAME = "README.md"


# --------------------------------------------------------------------------- paths
def default_root() -> Path:
    """The source checkout panda_viz is installed from (the folder holding ``notebooks/``)."""
    return Path(__file__).resolve().parents[2]


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110, **savefig_kwargs: Any) -> Path:
    """``fig.savefig(path)`` atomically (a temporary file renamed into place); returns the path written.

    A path inside the checkout's ``figures/`` goes to ``$PANDA_VIZ_FIGURES`` instead when
    that is set (the test suite sets it, so tracked figures stay untouched; see
    :func:`panda_viz.runtime.figure_folder.figure_destination`).

    Parameters
    ----------
    fig : matplotlib Figure
    path : str or Path
        Where to write, e.g. ``"../figures/fig3_object_removal.png"`` from a notebook.
    dpi : int
        Fixed, so a figure's pixel size does not depend on the machine's matplotlib rc.
    **savefig_kwargs
        Passed to ``savefig`` (``bbox_inches="tight"`` by default).
    """
    path = figure_destination(path)
    savefig_kwargs.setdefault("bbox_inches", "tight")
    savefig_kwargs.setdefault("facecolor", "white")
    # no timestamps in the PNG: re-running a notebook rewrites identical bytes when nothing changed
    if path.suffix.lower() == ".png":
        savefig_kwargs.setdefault("metadata", {"Software": None})
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, **savefig_kwargs)
    return path


def image_panel(
    rows: Sequence[Sequence[Any]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    cell_inches: float = 1.45,
    cmap: str | None = None,
) -> Any:
    """A matplotlib figure of images in a labelled grid (the paper figures' layout).

    Parameters
    ----------
    rows : sequence of sequences of images
        Each image uint8 (H, W, 3), or a float map (H, W) drawn with ``cmap``; ``None``
        leaves a cell blank. Rows may differ in length (the grid is as wide as the longest).
    row_labels, col_labels : sequences of str, optional
        Written left of each row / above each column of the first row.
    title : str, optional
    cell_inches : float
        Size of one cell (a 64×64 image at the default dpi of :func:`save_figure`
        is drawn about 2.5 times enlarged, nearest-neighbour, so pixels stay sharp).
    cmap : str, optional
        Colour map for 2-D maps (default viridis).

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    n_rows = len(rows)
    n_cols = max((len(r) for r in rows), default=0)
    if n_rows == 0 or n_cols == 0:
        raise InvalidInputError(f"image_panel needs at least one image; got {n_rows} rows of at most {n_cols}")
    if row_labels is not None and len(row_labels) != n_rows:
        raise InvalidInputError(f"image_panel: row_labels must have one label per row ({n_rows}); got {len(row_labels)}")
    if col_labels is not None and len(col_labels) > n_cols:
        raise InvalidInputError(
            f"image_panel: col_labels must have at most one label per column ({n_cols}); got {len(col_labels)}"
        )
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_inches * n_cols + (0.9 if row_labels else 0.1),
                                                      cell_inches * n_rows + (0.45 if title else 0.1)),
                             squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            image = row[c] if c < len(row) else None
            if image is None:  # blank, but keeps its row label
                ax.set_frame_on(False)
                continue
            image = image.detach().cpu().numpy() if hasattr(image, "detach") else image
            if getattr(image, "ndim", 3) == 2:
                ax.imshow(image, cmap=cmap or "viridis", interpolation="nearest")
            else:
                ax.imshow(image, interpolation="nearest")
            for spine in ax.spines.values():
                spine.set_visible(False)
        if row_labels is not None:
            axes[r][0].set_ylabel(row_labels[r], fontsize=9, rotation=0, ha="right", va="center", labelpad=4)
    for c, label in enumerate(col_labels or []):
        axes[0][c].set_title(label, fontsize=9)
    top = 1.0
    if title:
        fig.suptitle(title, fontsize=11)
        top = 1 - 0.42 / fig.get_figheight()
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4, rect=(0, 0, 1, top))
    return fig


def select_notebooks(folder: Path, patterns: Sequence[str] = (), *, include_explore: bool = True) -> list[Path]:
    """The notebooks in ``folder`` whose name contains any of ``patterns`` (all when none), sorted.

    Raises
    ------
    InvalidFileError
        When ``folder`` has no notebooks (``path`` is the folder).
    InvalidInputError
        When a pattern matches none; the message lists the notebooks there are.
    """
    folder = Path(folder)
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not include_explore:
        found = [p for p in found if p.stem != "explore"]
    if not found:
        raise InvalidFileError(f"no notebooks (*.ipynb) in {str(folder)!r}", folder)
    if not patterns:
        return found
    chosen = []
    for pattern in patterns:
        hits = [p for p in found if pattern.lower() in p.stem.lower()]
        if not hits:
            names = ", ".join(p.stem for p in found)
            raise InvalidInputError(f"no notebook name contains {pattern!r}; notebooks: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


# --------------------------------------------------------------------------- execution
def execute_notebook(path: Path, *, timeout: int = 600, kernel_name: str = "python3",
                     show_progress: bool = True) -> float:
    """Run every cell of ``path`` in a fresh kernel (working directory: the notebook's folder).

    The executed notebook, outputs included, replaces ``path`` atomically only when every
    cell succeeded.

    Parameters
    ----------
    path : Path
    timeout : int
        Seconds any one cell may take.
    kernel_name : str
        Jupyter kernel ("python3" is this Python environment's ipykernel).
    show_progress : bool
        A progress bar over the notebook's code cells.

    Returns
    -------
    float
        Seconds the notebook took.

    Raises
    ------
    NotebookFailed
        A cell raised or ran past ``timeout``; ``path`` is unchanged.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellControlSignal,
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    from ..runtime.progress import progress

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    code = [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    start = time.perf_counter()
    with client.setup_kernel():
        for number, (index, cell) in enumerate(progress(code, enabled=show_progress, desc=path.stem, unit="cell"), 1):
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                raise NotebookFailed(path, index, number, f"ran past the {timeout} s cell timeout "
                                                          "(raise it with --timeout)") from None
            except CellExecutionError as err:
                raise NotebookFailed(path, index, number, f"{err.ename}: {err.evalue}") from None
            except (DeadKernelError, CellControlSignal) as err:
                raise NotebookFailed(path, index, number, f"{type(err).__name__}: {err}") from None
    elapsed = time.perf_counter() - start
    with atomic_path(path) as tmp:
        nbformat.write(nb, str(tmp))
    return elapsed


# --------------------------------------------------------------------------- the index
_PNG_NAME = re.compile(r"""["'/]((?:[\w.-]|\{[^{}"'\n]*\})+\.png)["']""")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def written_figures(notebook: Path) -> list[str]:
    """The PNG file names a notebook's code cells mention (the figures it writes), in order.

    A name built with an f-string comes back as a glob pattern: ``f"fig3_{name}.png"``
    gives ``fig3_*.png``.
    """
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    names: list[str] = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        for name in _PNG_NAME.findall(source):
            name = _PLACEHOLDER.sub("*", name)
            if name not in names:
                names.append(name)
    return names


def figure_index(root: Path) -> str:
    """The text of ``figures/README.md``: every PNG under ``figures/``, what it shows and what writes it.

    Top-level PNGs are matched with the notebooks that write them (:func:`written_figures`),
    PNGs in sub-folders with :data:`OTHER_PRODUCERS`. A PNG that nothing writes is listed
    as stale; a declared figure that is missing is listed as not written yet.
    """
    root = Path(root)
    folder = root / "figures"
    pngs = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) if folder.is_dir() else []
    patterns: dict[str, str] = {}
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    for nb in notebooks:
        for name in written_figures(nb):
            patterns.setdefault(name, nb.stem)
    # notebooks write figures/<name>.png: their patterns match top-level files only
    writers = {png: stem for pattern, stem in reversed(patterns.items()) for png in pngs
               if "/" not in png and fnmatch.fnmatchcase(png, pattern)}
    lines = [
        "# figures/",
        "",
        "Every PNG under `figures/`, what it shows and what writes it. The notebooks in `notebooks/`",
        "write the top-level figures (re-run them all with `panda-viz figures`, which also rewrites",
        "this file; `panda-viz figures fig3` re-runs one, `panda-viz figures --index-only` only",
        "rewrites this file); the sub-folders are written by the commands and the test named below",
        "(declared in `panda_viz.commands.figures.OTHER_PRODUCERS`). Every image comes from the embedded",
        "DigiFace-1M DCGAN unless its notebook's parameters cell names another generator.",
        "",
        "| figure | what it shows | written by |",
        "| --- | --- | --- |",
    ]
    for name in pngs:
        if name in writers:
            stem = writers[name]
            lines.append(f"| [`{name}`]({name}) | {PAPER_ITEMS.get(stem, stem)} | `notebooks/{stem}.ipynb` |")
        elif name in OTHER_PRODUCERS:
            shows, producer = OTHER_PRODUCERS[name]
            lines.append(f"| [`{name}`]({name}) | {shows} | {producer} |")
        else:
            lines.append(f"| `{name}` | (nothing writes it: stale?) | — |")
    missing = sorted({name for name in patterns if "*" not in name} | set(OTHER_PRODUCERS))
    missing = [name for name in missing if name not in pngs]
    if missing:
        lines += ["", "Not written yet (run what writes them): " + ", ".join(f"`{m}`" for m in missing) + "."]
    return "\n".join(lines) + "\n"


def write_index(root: Path) -> Path:
    """Rewrite ``figures/README.md`` atomically; returns its path."""
    path = Path(root) / "figures" / INDEX_NAME
    text = figure_index(root)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", metavar="NAME",
                        help="run only notebooks whose name contains NAME (several allowed; default: all)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds any one cell may take before the run stops (default 600)")
    parser.add_argument("--kernel", default="python3",
                        help="Jupyter kernel to run them in (default python3: this environment)")
    parser.add_argument("--root", type=Path, default=None,
                        help="the checkout holding notebooks/ and figures/ (default: the one panda_viz is installed from)")
    parser.add_argument("--skip-explore", action="store_true",
                        help="leave notebooks/explore.ipynb (the interactive Explorer) out")
    parser.add_argument("--list", action="store_true", help="list the notebooks that would run and exit")
    parser.add_argument("--index-only", action="store_true",
                        help="only rewrite figures/README.md from the PNGs there are (every one under figures/)")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")


def _report_error(message: str) -> int:
    """Print ``message`` on stderr as the command's error; returns the exit code 2."""
    print(f"panda-viz figures: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    root = (args.root or default_root()).resolve()
    if args.timeout <= 0:
        return _report_error(f"--timeout must be a positive number of seconds; got {args.timeout}")
    folder = root / "notebooks"
    if args.index_only:
        print(f"wrote {write_index(root)}")
        return 0
    try:
        chosen = select_notebooks(folder, args.notebooks, include_explore=not args.skip_explore)
    except (InvalidFileError, InvalidInputError) as err:
        return _report_error(str(err))
    if args.list:
        for nb in chosen:
            print(f"{nb.relative_to(root)}  {PAPER_ITEMS.get(nb.stem, '')}".rstrip())
        return 0
    total = 0.0
    for k, nb in enumerate(chosen, 1):
        print(f"[{k}/{len(chosen)}] {nb.relative_to(root)} …", flush=True)
        try:
            seconds = execute_notebook(nb, timeout=args.timeout, kernel_name=args.kernel,
                                       show_progress=not args.no_progress)
        except NotebookFailed as err:
            write_index(root)
            return _report_error(f"{err}\n  {nb.relative_to(root)} was left unchanged; open it to see the cell, "
                         f"fix it, then run `panda-viz figures {nb.stem}`")
        total += seconds
        print(f"      done in {seconds:.1f} s", flush=True)
    index = write_index(root)
    print(f"{len(chosen)} notebook(s) in {total:.1f} s; wrote {index.relative_to(root)}")
    return 0
