"""RoiPainter: mouse events as the browser sends them become the mask an edit uses."""

from __future__ import annotations

import numpy as np
import pytest

from panda_viz.widgets import RoiPainter


def _event(kind, x, y, *, size=256, buttons=1):
    # what ipyevents sends for an Image shown at size×size CSS pixels
    return {"type": kind, "relativeX": x, "relativeY": y, "boundingRectWidth": size,
            "boundingRectHeight": size, "buttons": buttons}


def test_a_stroke_of_mouse_events_paints_a_connected_region():
    painter = RoiPainter(np.zeros((64, 64, 3), np.uint8), brush=3)
    seen = []
    painter.on_change(seen.append)
    before = painter.view.image.value
    painter.handle_event(_event("mousedown", 40, 40))     # image pixel (10, 10)
    painter.handle_event(_event("mousemove", 120, 40))    # (30, 10)
    painter.handle_event(_event("mouseup", 120, 40))
    mask = painter.mask
    assert mask.shape == (64, 64) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    # the whole segment between the two points is painted, nothing far from it
    assert mask[10, 10:31].all()
    assert not mask[30:].any() and not mask[:, 40:].any()
    assert len(seen) == 1 and np.array_equal(seen[0], mask)  # one notification per stroke
    assert painter.view.image.value != before                # the browser sees the region


def test_moves_without_a_press_paint_nothing_and_erase_removes():
    painter = RoiPainter(size=(64, 64), brush=4)
    painter.handle_event(_event("mousemove", 100, 100))
    assert painter.is_empty
    painter.stroke([(32, 32)])
    assert painter.mask[32, 32] == 1
    painter.mode.value = "erase"
    painter.handle_event(_event("mousedown", 128, 128))
    painter.handle_event(_event("mouseup", 128, 128))
    assert painter.mask[32, 32] == 0
    painter.mode.value = "paint"
    painter.stroke([(10, 10), (50, 50)])
    assert not painter.is_empty
    painter.clear_button.click()
    assert painter.is_empty


def test_data_coordinates_are_divided_by_the_display_scale():
    painter = RoiPainter(size=(64, 64), brush=1, scale=4)
    painter.handle_event({"type": "mousedown", "dataX": 4 * 20 + 2, "dataY": 4 * 50 + 2})
    painter.handle_event({"type": "mouseup", "dataX": 4 * 20 + 2, "dataY": 4 * 50 + 2})
    ys, xs = np.nonzero(painter.mask)
    assert (round(ys.mean()), round(xs.mean())) == (50, 20)


def test_set_mask_checks_the_shape():
    painter = RoiPainter(size=(64, 64))
    with pytest.raises(ValueError, match=r"mask of shape \(64, 64\).*got \(8, 8\)"):
        painter.set_mask(np.ones((8, 8)))
    painter.set_mask(np.full((64, 64), 2.0))
    assert painter.mask.max() == 1.0


def test_a_broken_event_lands_in_the_log_not_in_a_traceback():
    painter = RoiPainter(size=(64, 64))
    painter.events._handle_mouse_msg(None, {"type": "mousedown", "relativeX": "left", "relativeY": 3,
                                            "boundingRectWidth": 256, "boundingRectHeight": 256}, None)
    assert painter.log_area.last_error.startswith("painting:")
