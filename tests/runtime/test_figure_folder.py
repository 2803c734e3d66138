"""figure_destination: checkout figures go to $PANDA_VIZ_FIGURES when it is set, nothing else moves."""

from __future__ import annotations

from pathlib import Path

from panda_viz.commands.figures import save_figure
from panda_viz.runtime.figure_folder import ENV_VAR, checkout_figures, figure_destination

ROOT = Path(__file__).resolve().parents[2]


def test_unset_nothing_is_redirected(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert figure_destination(ROOT / "figures" / "fig1_overview.png") == ROOT / "figures" / "fig1_overview.png"
    monkeypatch.setenv(ENV_VAR, "")
    assert figure_destination("../figures/x.png") == Path("../figures/x.png")


def test_set_only_checkout_figures_move(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "scratch"))
    assert checkout_figures() == ROOT / "figures"
    # the notebooks' relative path, from notebooks/ (their working folder)
    monkeypatch.chdir(ROOT / "notebooks")
    assert figure_destination("../figures/fig1_overview.png") == (tmp_path / "scratch" / "fig1_overview.png").resolve()
    target = figure_destination(ROOT / "figures" / "table2" / "table2.md")
    assert target == (tmp_path / "scratch" / "table2" / "table2.md").resolve() and target.parent.is_dir()
    elsewhere = tmp_path / "mine" / "figures" / "a.png"  # a folder called figures that is not the checkout's
    assert figure_destination(elsewhere) == elsewhere
    assert figure_destination(ROOT / "figures_other.png") == ROOT / "figures_other.png"


def test_save_figure_writes_the_redirected_file_and_returns_it(monkeypatch, tmp_path):
    from matplotlib.figure import Figure

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    meant = ROOT / "figures" / "_redirect_check.png"
    written = save_figure(fig, meant)
    assert written == tmp_path.resolve() / "_redirect_check.png" and written.read_bytes()[:4] == b"\x89PNG"
    assert not meant.exists()
