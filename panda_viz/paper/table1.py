"""The PandA paper's Table 1 as data: what each local-editing method needs and offers, and its training time.

The paper compares StyleSpace, LowRankGAN and PandA on five features and the minutes each
needs "to produce the images for the quantitative comparisons" (Table 2). This module keeps
those cells exactly as printed (:data:`PAPER_MINUTES`, the ``paper`` entries of
:data:`FEATURES`) and adds SeFa, GANSpace and ReSeFa, which panda_viz also implements: their
cells are ours (``source="panda_viz"``), each with the reason, read off how the method
works here.

The five features (the paper's column names):

- ``manual_roi_free``: the user need not draw a region of interest;
- ``semantic_mask_free``: no segmentation masks or network are needed;
- ``pixel_level_control``: an edit can target chosen pixels (e.g. one eye only);
- ``architecture_agnostic``: works on generators without a style space;
- ``style_diversity``: several appearances per region to choose from.

Examples
--------
>>> from panda_viz.paper.table1 import feature_rows
>>> feature_rows()[0]["method"]
'SeFa'
"""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import check_choice

__all__ = ["FEATURE_COLUMNS", "FEATURES", "METHOD_ORDER", "PAPER_MINUTES", "PAPER_RATIOS", "Feature", "feature_rows",
           "feature"]

#: The feature columns of Table 1, in the paper's order: (key, the paper's heading).
FEATURE_COLUMNS = (
    ("manual_roi_free", "Manual ROI–free"),
    ("semantic_mask_free", "Semantic mask–free"),
    ("pixel_level_control", "Pixel-level control"),
    ("architecture_agnostic", "Architecture-agnostic"),
    ("style_diversity", "Style diversity"),
)

#: The six methods, in the order of the paper's tables (SeFa, GANSpace, StyleSpace,
#: LowRankGAN as in Table 2; ReSeFa, which the paper does not compare with, before PandA).
METHOD_ORDER = ("SeFa", "GANSpace", "StyleSpace", "LowRankGAN", "ReSeFa", "PandA")

#: Table 1's training times in minutes, as printed (FFHQ-1024 StyleGAN2, the paper's machine).
PAPER_MINUTES = {"StyleSpace": 177.12, "LowRankGAN": 392.97, "PandA": 0.87}

#: The paper's claims (Sec. 4.3.3): PandA takes under 1/400 of LowRankGAN's time and 1/170 of StyleSpace's.
PAPER_RATIOS = {"LowRankGAN": 1 / 400, "StyleSpace": 1 / 170}


@dataclass(frozen=True)
class Feature:
    """One cell of Table 1's feature columns.

    Attributes
    ----------
    value : bool
        ✓ (True) or ✗ (False).
    source : {"paper", "panda_viz"}
        ``"paper"``: as printed in Table 1; ``"panda_viz"``: the method is not in Table 1,
        the cell is ours.
    reason : str
        Why, in one sentence.
    """

    value: bool
    source: str
    reason: str

    @property
    def mark(self) -> str:
        return "✓" if self.value else "✗"


def _paper(value: bool, reason: str) -> Feature:
    return Feature(value, "paper", reason)


def _ours(value: bool, reason: str) -> Feature:
    return Feature(value, "panda_viz", reason)


_GLOBAL = "its directions are global: no edit is confined to chosen pixels"

#: method → feature key → :class:`Feature`.
FEATURES: dict[str, dict[str, Feature]] = {
    "SeFa": {
        "manual_roi_free": _ours(True, "closed form from the generator's first weights; no region is asked for"),
        "semantic_mask_free": _ours(True, "no segmentation is used"),
        "pixel_level_control": _ours(False, _GLOBAL),
        "architecture_agnostic": _ours(True, "needs only a linear first map of the latent (DCGAN, PGGAN, StyleGAN here)"),
        "style_diversity": _ours(True, "k directions, each a different change, but of the whole image"),
    },
    "GANSpace": {
        "manual_roi_free": _ours(True, "PCA of a layer's activations; no region is asked for"),
        "semantic_mask_free": _ours(True, "no segmentation is used"),
        "pixel_level_control": _ours(False, _GLOBAL),
        "architecture_agnostic": _ours(True, "PCA of any layer's activations (or of w), any generator"),
        "style_diversity": _ours(True, "80 components, each a different change, but of the whole image"),
    },
    "StyleSpace": {
        "manual_roi_free": _paper(True, "regions come from a face parser, not from the user"),
        "semantic_mask_free": _paper(False, "needs per-image semantic masks (the official BiSeNet face parser)"),
        "pixel_level_control": _paper(False, "edits whole semantic regions, the parser's classes"),
        "architecture_agnostic": _paper(False, "needs a style space (StyleGAN2/3, genforce StyleGAN/StyleGAN2)"),
        "style_diversity": _paper(True, "several locally-active channels per region"),
    },
    "LowRankGAN": {
        "manual_roi_free": _paper(False, "the user gives the region of interest as a mask"),
        "semantic_mask_free": _paper(True, "the region is a box or a painted mask, no segmenter"),
        "pixel_level_control": _paper(False, "directions of the region's Jacobian move its whole neighbourhood"),
        "architecture_agnostic": _paper(True, "Jacobians of any differentiable generator"),
        "style_diversity": _paper(False, "the region's few principal directions, found per image"),
    },
    "ReSeFa": {
        "manual_roi_free": _ours(False, "the user gives the region of interest as a mask, as for LowRankGAN"),
        "semantic_mask_free": _ours(True, "the region is a box or a painted mask, no segmenter"),
        "pixel_level_control": _ours(False, "directions of the region's Jacobian move its whole neighbourhood"),
        "architecture_agnostic": _ours(True, "Jacobians of any differentiable generator"),
        "style_diversity": _ours(False, "the region's few generalised eigenvectors, found per image or set"),
    },
    "PandA": {
        "manual_roi_free": _paper(True, "the parts are learnt, unsupervised"),
        "semantic_mask_free": _paper(True, "no segmentation is used"),
        "pixel_level_control": _paper(True, "an edit can be restricted to any pixels of a part (one eye)"),
        "architecture_agnostic": _paper(True, "a decomposition of any layer's feature maps"),
        "style_diversity": _paper(True, "every appearance can be painted into every part"),
    },
}


def feature(method: str, key: str) -> Feature:
    """The cell of ``method`` (one of :data:`METHOD_ORDER`) in column ``key`` (:data:`FEATURE_COLUMNS`)."""
    method = check_choice("method", method, METHOD_ORDER)
    key = check_choice("feature", key, [k for k, _ in FEATURE_COLUMNS])
    return FEATURES[method][key]


def feature_rows() -> list[dict]:
    """Table 1's feature columns for all six methods, in :data:`METHOD_ORDER`.

    Returns
    -------
    list of dict
        One per method: ``method``, ``in_paper`` (whether Table 1 has the row), each feature
        key → ``"✓"`` / ``"✗"``, and ``paper_minutes`` (None for the methods the paper
        did not time).
    """
    rows = []
    for method in METHOD_ORDER:
        cells = FEATURES[method]
        row = {"method": method, "in_paper": all(c.source == "paper" for c in cells.values())}
        row.update({key: cells[key].mark for key, _ in FEATURE_COLUMNS})
        row["paper_minutes"] = PAPER_MINUTES.get(method)
        rows.append(row)
    return rows
