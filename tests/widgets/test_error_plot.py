"""The error-against-rank figure at projector size: every text ≥ 14 pt as shown, a legend entry per series."""

from __future__ import annotations

import pytest
import torch

from panda_viz.decomposition.low_rank import METHOD_NAMES, LowRankApproximations
from panda_viz.widgets.error_plot import MIN_FONT_PT, display_points, error_figure, figure_array


@pytest.fixture(scope="module")
def approximations(dcgan):
    approx = LowRankApproximations(dcgan.features(dcgan.sample_latents(8, seed=0), "main.2"))
    approx.precompute("mpca", [(512, 2), (512, 4)], show_progress=False)
    approx.get("panda", 512, 4)
    approx.get("panda", 64, 4)
    return approx


def figure(approx, method="panda", ranks=(512, 4)):
    return error_figure(approx.hosvd_errors(), {m: approx.fitted_errors(m) for m in ("mpca", "panda")},
                        names=METHOD_NAMES, method=method, ranks=ranks, error=approx.get(method, *ranks).error)


def texts(fig):
    for artist in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")):
        if artist.get_text().strip() and artist.get_visible():
            yield artist


def test_every_text_is_at_least_14_points_as_displayed(approximations):
    fig = figure(approximations)
    figure_array(fig)  # draw, so the tick labels exist
    sizes = {t.get_text(): display_points(fig, t.get_fontsize()) for t in texts(fig)}
    assert len(sizes) > 15  # titles, labels, ticks, legend
    small = {text: size for text, size in sizes.items() if size < MIN_FONT_PT}
    assert not small, small
    assert MIN_FONT_PT >= 14
    tick_labels = [label for ax in fig.axes for label in ax.get_xticklabels() + ax.get_yticklabels()]
    assert tick_labels and all(display_points(fig, label.get_fontsize()) >= 14 for label in tick_labels)


def test_the_legend_names_each_series_and_the_current_point(approximations):
    fig = figure(approximations)
    (legend,) = fig.legends
    entries = [t.get_text() for t in legend.get_texts()]
    assert entries == ["truncated HOSVD (every rank)", "MPCA (fitted)", "PandA (P ≥ 0) (fitted)",
                       f"now: PandA (P ≥ 0), {approximations.get('panda', 512, 4).error:.3f}"]
    ax_s, ax_c = fig.axes
    lines = {line.get_label(): line for line in ax_s.get_lines()}
    # the fitted points where R_C is the current one, each series with its own marker
    assert list(lines["MPCA (fitted)"].get_xdata()) == [2, 4]
    assert list(lines["PandA (P ≥ 0) (fitted)"].get_xdata()) == [4]
    markers = {lines[name].get_marker() for name in ("truncated HOSVD (every rank)", "MPCA (fitted)", "PandA (P ≥ 0) (fitted)")}
    assert len(markers) == 3
    star = next(line for line in ax_s.get_lines() if line.get_marker() == "*")
    assert star.get_markersize() >= 20 and list(star.get_xdata()) == [4]
    # along R_C at R_S = 4: PandA at R_C = 64 and 512
    panda_c = [line for line in ax_c.get_lines() if line.get_marker() == "o"]
    assert [list(line.get_xdata()) for line in panda_c] == [[64, 512]]


def test_the_hosvd_curve_is_the_error_table(approximations):
    fig = figure(approximations, method="hosvd", ranks=(64, 4))
    ax_s, ax_c = fig.axes
    curve = ax_s.get_lines()[0]
    assert torch.allclose(torch.tensor(curve.get_ydata(), dtype=torch.float64),
                          approximations.hosvd_errors()[63].double())
    assert list(ax_c.get_lines()[0].get_xdata()) == list(range(1, 513))
    image = figure_array(fig)
    assert image.shape == (round(4.5 * 96), round(11 * 96), 3)
