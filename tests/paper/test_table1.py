"""Table 1's feature columns: the paper's cells as printed, ours for the methods it leaves out."""

from __future__ import annotations

import pytest

from panda_viz.exceptions import InvalidInputError
from panda_viz.paper.table1 import (
    FEATURE_COLUMNS,
    FEATURES,
    METHOD_ORDER,
    PAPER_MINUTES,
    feature,
    feature_rows,
)

# Table 1 of the paper, columns in its order (✓ = 3, ✗ = 7 in the extracted text).
PRINTED = {
    "StyleSpace": "✓✗✗✗✓",
    "LowRankGAN": "✗✓✗✓✗",
    "PandA": "✓✓✓✓✓",
}


def test_the_papers_rows_are_as_printed():
    keys = [k for k, _ in FEATURE_COLUMNS]
    for method, marks in PRINTED.items():
        assert "".join(feature(method, k).mark for k in keys) == marks
        assert all(FEATURES[method][k].source == "paper" for k in keys)
    assert PAPER_MINUTES == {"StyleSpace": 177.12, "LowRankGAN": 392.97, "PandA": 0.87}


def test_six_methods_in_table_order_every_cell_explained():
    rows = feature_rows()
    assert [r["method"] for r in rows] == list(METHOD_ORDER) == ["SeFa", "GANSpace", "StyleSpace", "LowRankGAN",
                                                                  "ReSeFa", "PandA"]
    assert [r["in_paper"] for r in rows] == [False, False, True, True, False, True]
    for method in METHOD_ORDER:
        assert set(FEATURES[method]) == {k for k, _ in FEATURE_COLUMNS}
        assert all(cell.reason and cell.source in ("paper", "panda_viz") for cell in FEATURES[method].values())
    # only PandA offers pixel-level control; only StyleSpace needs a style space
    assert [r["method"] for r in rows if r["pixel_level_control"] == "✓"] == ["PandA"]
    assert [r["method"] for r in rows if r["architecture_agnostic"] == "✗"] == ["StyleSpace"]


def test_unknown_names_are_refused_with_near_misses():
    with pytest.raises(InvalidInputError, match="did you mean 'LowRankGAN'"):
        feature("LowRankGan", "style_diversity")
    with pytest.raises(InvalidInputError, match="Invalid feature"):
        feature("PandA", "speed")
