"""The paper notebooks, figures/ and its index, and the ``panda-viz figures`` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from panda_viz.commands import (
    cli,
    figures,  # noqa: E402
)
from panda_viz.exceptions import InvalidFileError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAPER_NOTEBOOKS = [nb for nb in NOTEBOOKS if nb.stem != "explore"]


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


# --------------------------------------------------------------------------- figures/ and its index
def test_index_lists_exactly_the_pngs_present():
    """Every PNG under figures/ (sub-folders too) is in the index, and every indexed file exists."""
    index = (ROOT / "figures" / "README.md").read_text()
    listed = re.findall(r"^\| \[?`([^`]+\.png)`", index, flags=re.M)
    linked = re.findall(r"^\| \[`[^`]+`\]\(([^)]+)\)", index, flags=re.M)
    present = {p.relative_to(ROOT / "figures").as_posix() for p in (ROOT / "figures").rglob("*.png")}
    assert {"table2/table2_edits.png", "widgets/explorer.png", "widgets/directions.png", "demo/parts.png"} <= present
    assert sorted(listed) == sorted(present)
    assert linked == listed and all((ROOT / "figures" / name).is_file() for name in linked)
    assert index == figures.figure_index(ROOT), "figures/README.md is stale: run `panda-viz figures --index-only`"


def test_every_png_has_a_known_writer():
    index = figures.figure_index(ROOT)
    assert "nothing writes it" not in index and "Not written yet" not in index, index


def test_declared_producers_write_where_the_index_says():
    """OTHER_PRODUCERS agrees with what the demo, `panda-viz table2` and the browser test write."""
    from test_demo import FIGURES as DEMO_FIGURES

    from panda_viz.paper import evaluation

    declared = set(figures.OTHER_PRODUCERS)
    assert {n for n in declared if n.startswith("demo/")} == {f"demo/{name}" for name in DEMO_FIGURES}
    assert cli.build_parser().parse_args(["demo"]).out == Path("figures/demo")
    assert cli.build_parser().parse_args(["table2"]).out == Path("figures/table2")
    assert "table2_edits.png" in Path(evaluation.__file__).read_text()
    browser = (ROOT / "tests" / "browser" / "test_explorer_browser.py").read_text()
    for name in ("explorer.png", "directions.png", "explorer_photo.png"):
        assert f'REPO / "figures" / "widgets" / "{name}"' in browser
        assert f"widgets/{name}" in declared
    assert all(producer.startswith("`") for _, producer in figures.OTHER_PRODUCERS.values())


@pytest.mark.parametrize("notebook", PAPER_NOTEBOOKS, ids=lambda p: p.stem)
def test_paper_notebook_shape(notebook):
    """A parameters cell first, receipt cells for nbval, committed executed, a known paper item."""
    assert notebook.stem in figures.PAPER_ITEMS, f"add {notebook.stem} to panda_viz.commands.figures.PAPER_ITEMS"
    cells = _code_cells(notebook)
    first = cells[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), "the first code cell must be tagged 'parameters'"
    assert re.search(r"^GENERATORS?\s*=", _source(first), flags=re.M), "the parameters cell names the GENERATOR (or GENERATORS)"
    checked = [c for c in cells if _source(c).lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked, "at least one cell marked # NBVAL_CHECK_OUTPUT"
    assert all(c["outputs"] for c in checked), "marked cells are committed with their outputs"
    assert all(c["execution_count"] is not None for c in cells if _source(c).strip()), "commit the notebook executed"
    assert not any(o.get("output_type") == "error" for c in cells for o in c["outputs"])
    # an f-string name comes back as a glob, which may match nothing (fig3's per-generator
    # figures exist only where those generators' weights are installed)
    for name in figures.written_figures(notebook):
        if "*" not in name:
            assert (ROOT / "figures" / name).is_file(), f"{notebook.name} writes figures/{name}, which is missing"


# --------------------------------------------------------------------------- helpers
def test_save_figure_is_atomic_and_reproducible(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    path = figures.save_figure(fig, tmp_path / "sub" / "a.png")
    first = path.read_bytes()
    figures.save_figure(fig, path)
    plt.close(fig)
    assert path.read_bytes() == first  # no timestamp or version in the file
    assert "Software" not in Image.open(path).info
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]  # no temporary left behind


def test_written_figures_reads_code_cells_only(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("see `figures/not_this.png`"),
        nbformat.v4.new_code_cell('save_figure(fig, FIGURES / "fig9_a.png")\nsave_figure(f, "../figures/fig9_b.png")'),
        nbformat.v4.new_code_cell('save_figure(fig, FIGURES / f"fig3_{name}_{k:02d}.png")'),
    ]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    assert figures.written_figures(path) == ["fig9_a.png", "fig9_b.png", "fig3_*_*.png"]


def _checkout(tmp_path: Path, cells: dict[str, list[str]]) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "figures").mkdir()
    for stem, sources in cells.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
        nbformat.write(nb, str(tmp_path / "notebooks" / f"{stem}.ipynb"))
    return tmp_path


def test_select_notebooks(tmp_path):
    root = _checkout(tmp_path, {"fig1_overview": ["1"], "fig3_object_removal": ["1"], "explore": ["1"]})
    folder = root / "notebooks"
    assert [p.stem for p in figures.select_notebooks(folder)] == ["explore", "fig1_overview", "fig3_object_removal"]
    assert [p.stem for p in figures.select_notebooks(folder, include_explore=False)] == ["fig1_overview", "fig3_object_removal"]
    assert [p.stem for p in figures.select_notebooks(folder, ["FIG3", "fig"])] == ["fig1_overview", "fig3_object_removal"]
    with pytest.raises(ValueError, match=r"no notebook name contains 'fig99'; notebooks: explore, fig1_overview"):
        figures.select_notebooks(folder, ["fig99"])
    with pytest.raises(InvalidFileError, match="no notebooks"):
        figures.select_notebooks(root / "figures")


# --------------------------------------------------------------------------- the command
def test_cli_wires_the_figures_command(tmp_path, capsys):
    root = _checkout(tmp_path, {"fig1_overview": ["1"], "table2_roir": ["1"]})
    assert cli.main(["figures", "--root", str(root), "--list", "table"]) == 0
    assert capsys.readouterr().out.strip() == f"notebooks/table2_roir.ipynb  {figures.PAPER_ITEMS['table2_roir']}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope"], "no notebook name contains 'nope'; notebooks: fig1_overview"),
        (["--timeout", "0"], "--timeout must be a positive number of seconds; got 0"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, capsys, argv, message):
    root = _checkout(tmp_path, {"fig1_overview": ["1"]})
    assert cli.main(["figures", "--root", str(root), *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_a_non_integer_timeout(capsys):
    with pytest.raises(SystemExit):
        cli.main(["figures", "--timeout", "soon"])
    assert "invalid int value: 'soon'" in capsys.readouterr().err


def test_index_only(tmp_path, capsys):
    root = _checkout(tmp_path, {"fig3_object_removal": ['save_figure(fig, FIGURES / "fig3_object_removal.png")\n'
                                                        'save_figure(fig, FIGURES / f"fig3_object_removal_{name}.png")']})
    Image.new("RGB", (4, 4)).save(root / "figures" / "fig3_object_removal.png")
    Image.new("RGB", (4, 4)).save(root / "figures" / "fig3_object_removal_biggan.png")
    Image.new("RGB", (4, 4)).save(root / "figures" / "old.png")
    (root / "figures" / "widgets").mkdir()
    Image.new("RGB", (4, 4)).save(root / "figures" / "widgets" / "explorer.png")
    Image.new("RGB", (4, 4)).save(root / "figures" / "widgets" / "fig3_object_removal.png")  # not the notebook's
    assert cli.main(["figures", "--root", str(root), "--index-only"]) == 0
    text = (root / "figures" / "README.md").read_text()
    assert "| [`fig3_object_removal.png`](fig3_object_removal.png) | Fig. 3:" in text
    assert "`notebooks/fig3_object_removal.ipynb`" in text
    assert "| [`fig3_object_removal_biggan.png`](fig3_object_removal_biggan.png) | Fig. 3:" in text
    assert "| `old.png` | (nothing writes it: stale?) |" in text
    assert ("| [`widgets/explorer.png`](widgets/explorer.png) | the Explorer's edit tab in JupyterLab"
            in text and "| `tests/browser/test_explorer_browser.py` |" in text)
    assert "| `widgets/fig3_object_removal.png` | (nothing writes it: stale?) |" in text
    # declared but absent: listed as not written yet
    assert "`demo/parts.png`" in text.split("Not written yet")[1] and "`widgets/explorer.png`" not in text.split("Not written yet")[1]


@pytest.mark.slow
def test_run_executes_in_place_and_stops_at_the_failing_cell(tmp_path, capsys):
    """Two real kernels: one notebook runs (cwd notebooks/) and is written back, one fails and is left alone."""
    root = _checkout(
        tmp_path,
        {
            "fig1_overview": [
                "from pathlib import Path\nfrom PIL import Image",
                'Image.new("RGB", (4, 4)).save(Path("../figures") / "fig1_overview.png")\nprint("wrote it")',
            ],
            "fig2_separable_model": ["x = 1", "raise ValueError('the second cell breaks')", "print('never')"],
        },
    )
    failing = root / "notebooks" / "fig2_separable_model.ipynb"
    before = failing.read_bytes()
    assert cli.main(["figures", "--root", str(root), "--no-progress", "fig1"]) == 0
    out = capsys.readouterr().out
    assert "[1/1] notebooks/fig1_overview.ipynb" in out
    executed = nbformat.read(str(root / "notebooks" / "fig1_overview.ipynb"), as_version=4)
    assert executed.cells[1].outputs[0]["text"] == "wrote it\n"
    assert (root / "figures" / "fig1_overview.png").is_file()
    assert "fig1_overview.png" in (root / "figures" / "README.md").read_text()

    assert cli.main(["figures", "--root", str(root), "--no-progress", "fig2"]) == 2
    err = capsys.readouterr().err
    assert "fig2_separable_model.ipynb: code cell 2 (cell 1 of the notebook) failed: ValueError: the second cell breaks" in err
    assert "was left unchanged" in err
    assert failing.read_bytes() == before
    assert sorted(p.name for p in (root / "notebooks").iterdir()) == ["fig1_overview.ipynb", "fig2_separable_model.ipynb"]
