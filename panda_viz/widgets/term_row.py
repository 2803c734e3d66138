"""One term's row of the edit panel: part, ranked appearance, α slider, remove button."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from ..editing import edits as editing
from ..imaging import render
from ._common import row_layout

__all__ = ["TermRow", "SIGN_HELP", "outline_parts"]

#: The caption under the terms: what the appearance menu's score and ±α mean
#: (:func:`panda_viz.editing.ranking.rank_appearances` tries +α and −α and keeps the better).
SIGN_HELP = ("<small>appearance menu: the score ranks how much, and how locally, adding the appearance changes "
             "the part; <b>+α</b> / <b>−α</b> is the sign of α that scored best (−α: subtracting the "
             "appearance does it), the sign a new term's α starts with.</small>")


def outline_parts(image: np.ndarray, model: Any, parts: list) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with each of ``parts`` (ints or tuples of ints) outlined where
    its p̂ exceeds 0.5, in its overlay colour (a union in its first part's)."""
    P = editing.parts_tensor(model)
    colours = render.part_colors(int(P.shape[0]))
    for part in parts:
        first = part[0] if isinstance(part, tuple) else part
        image = render.outline_region(image, editing.part_map(P, part), color=colours[first])
    return image


class TermRow(widgets.HBox):
    """One term's row: part, appearance (ranked for the part), α slider, remove button."""

    def __init__(self, n_parts: int, part: int | tuple[int, ...], alpha_range: float) -> None:
        options: list[tuple[str, Any]] = [(f"part {k}", k) for k in range(n_parts)]
        if isinstance(part, tuple):  # a union of parts (from a named edit)
            options.append(("parts " + "+".join(map(str, part)), part))
        self.part = widgets.Dropdown(options=options, value=part, description="part",
                                     layout=widgets.Layout(width="150px"), style={"description_width": "32px"})
        self.appearance = widgets.Dropdown(description="appearance", layout=widgets.Layout(width="290px"),
                                           style={"description_width": "initial"})
        self.alpha = widgets.FloatSlider(value=0.0, min=-alpha_range, max=alpha_range, step=alpha_range / 100,
                                         description="α", continuous_update=True, readout_format="+.2f",
                                         layout=widgets.Layout(width="330px"), style={"description_width": "20px"})
        self.alpha.add_class("panda-alpha")
        self.remove = widgets.Button(icon="times", tooltip="remove this term", layout=widgets.Layout(width="36px"))
        self.appearance.tooltip = "ranked for the part; ±α: the sign of α that scored (−α: subtracting it)"
        super().__init__([self.part, self.appearance, self.alpha, self.remove], layout=row_layout())
