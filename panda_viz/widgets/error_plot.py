"""The error-against-rank figure of the lesson and the RankExplorer, readable on a projector.

The figure is drawn at :data:`DPI` = 96 dots per inch and shown at one image pixel per CSS
pixel (96 per inch), so a font of F points in the figure is F points on the page: every text
is at least :data:`MIN_FONT_PT`. Each series has a legend entry and its own marker, and
the current model is a large star.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["DPI", "MIN_FONT_PT", "SERIES_STYLE", "display_points", "error_figure", "figure_array"]

#: Dots per inch of the figure; shown 1:1, as the page's CSS pixels (96 per inch).
DPI = 96
#: The smallest font in the figure, in points at its display size.
MIN_FONT_PT = 14
#: Colour, marker and line of each method's series.
SERIES_STYLE = {
    "hosvd": {"color": "#1f77b4", "marker": ".", "linestyle": "-"},
    "mpca": {"color": "#2ca02c", "marker": "s", "linestyle": "--"},
    "panda": {"color": "#d62728", "marker": "o", "linestyle": ":"},
}


def display_points(fig: Any, size_pt: float) -> float:
    """The size on the page of a ``size_pt`` font in ``fig`` drawn at ``fig.dpi``, shown 1:1 (96 px per inch)."""
    return float(size_pt) * float(fig.dpi) / 96.0


def figure_array(fig: Any) -> np.ndarray:
    """A matplotlib Figure drawn with Agg, as uint8 (H, W, 3)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _series(ax: Any, xs, ys, method: str, label: str | None, size: float) -> None:
    style = SERIES_STYLE[method]
    ax.plot(list(xs), list(ys), linestyle=style["linestyle"], marker=style["marker"], color=style["color"],
            ms=size, lw=2, label=label)


def error_figure(hosvd_errors: torch.Tensor, fitted: Mapping[str, Mapping[tuple[int, int], float]], *,
                 names: Mapping[str, str], method: str, ranks: tuple[int, int], error: float,
                 width_in: float = 11.0, height_in: float = 4.5) -> Any:
    """The relative error against R_S (left) and against R_C (right), the current model starred.

    Parameters
    ----------
    hosvd_errors : Tensor (C, S)
        The truncated HOSVD's error at every (R_C, R_S), entry [R_C − 1, R_S − 1].
    fitted : {method: {(R_C, R_S): error}}
        The fitted models' errors (MPCA, PandA), drawn as points where R_C or R_S is the current one.
    names : {method: str}
        How each method is called in the legend.
    method : str
        The current model's method (its star's colour and legend entry).
    ranks : (R_C, R_S)
        The current ranks.
    error : float
        The current model's error.
    width_in, height_in : float
        The figure's size in inches (at :data:`DPI`: 1056 × 432 px by default).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes; one legend for the figure, above them.
    """
    from matplotlib.figure import Figure

    r_c, r_s = ranks
    C, S = hosvd_errors.shape
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    ax_s, ax_c = fig.subplots(1, 2)
    # fixed margins, not tight_layout: it costs a third of a redraw and the layout never changes
    fig.subplots_adjust(left=0.085, right=0.985, bottom=0.17, top=0.70, wspace=0.22)
    _series(ax_s, range(1, S + 1), hosvd_errors[r_c - 1].tolist(), "hosvd", f"{names['hosvd']} (every rank)", 5)
    _series(ax_c, range(1, C + 1), hosvd_errors[:, r_s - 1].tolist(), "hosvd", None, 5)
    for m in ("mpca", "panda"):
        along_s = sorted((rs, e) for (rc, rs), e in fitted.get(m, {}).items() if rc == r_c)
        along_c = sorted((rc, e) for (rc, rs), e in fitted.get(m, {}).items() if rs == r_s)
        # every method has its legend entry, even before its first fit: the class knows what to expect
        _series(ax_s, *(zip(*along_s) if along_s else ([], [])), m, f"{names[m]} (fitted)", 7)
        if along_c:
            _series(ax_c, *zip(*along_c), m, None, 7)
    for ax, x in ((ax_s, r_s), (ax_c, r_c)):
        ax.plot([x], [error], linestyle="none", marker="*", ms=24, color=SERIES_STYLE[method]["color"],
                markeredgecolor="black", markeredgewidth=1.5, zorder=5,
                label=f"now: {names[method]}, {error:.3f}" if ax is ax_s else None)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=MIN_FONT_PT)
    ax_s.set_xlim(0, S * 1.04 + 1)  # room for the star at full rank
    ax_c.set_xlim(0, C * 1.04 + 1)
    ax_s.set_xlabel(f"spatial rank R_S (R_C = {r_c})", fontsize=MIN_FONT_PT + 1)
    ax_c.set_xlabel(f"channel rank R_C (R_S = {r_s})", fontsize=MIN_FONT_PT + 1)
    ax_s.set_ylabel("relative error", fontsize=MIN_FONT_PT + 1)
    fig.suptitle("Σ‖Z_i − Ẑ_i‖² / Σ‖Z_i‖² against the ranks", fontsize=MIN_FONT_PT + 2, y=0.985)
    handles, labels = ax_s.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.91), ncol=2, fontsize=MIN_FONT_PT,
               frameon=False, columnspacing=1.5, handlelength=2.5)
    return fig
