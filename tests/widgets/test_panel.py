"""The base of the panels: one guarded render, held updates, the seed, the region toggle, background jobs."""

from __future__ import annotations

import threading

import ipywidgets as widgets
import numpy as np
import pytest

from panda_viz.exceptions import InvalidInputError, InvalidStateError, InvalidTypeError
from panda_viz.imaging import render
from panda_viz.widgets import RankExplorer
from panda_viz.widgets.panel import PAINTED, BackgroundJob, Panel


class Counting(Panel):
    """A panel drawing a flat image whose grey level is the slider's value; counts its composites."""

    def __init__(self, generator, **kwargs):
        super().__init__(generator, **kwargs)
        self.level = widgets.IntSlider(value=10, min=0, max=255)
        self.level.observe(self.guard("level", lambda ch: self.render()), "value")
        self.flat = self.pane("flat")
        self.panes = (self.flat,)
        self.set_body(widgets.HBox([w for w in (self.seed, self.level) if w is not None]), self.image_row())
        self.n_composites = 0
        self.is_ready = True

    def ready(self):
        return self.is_ready

    def composite(self):
        self.n_composites += 1
        if self.level.value == 13:
            raise ValueError("13 is unlucky")
        return (np.full((2, 2, 3), self.level.value, np.uint8),)


def test_render_shows_the_composite_and_held_changes_render_once(dcgan):
    panel = Counting(dcgan, seed=4, scale=2)
    assert panel.children[-1] is panel.log_area and panel.seed.value == 4
    panel.render()
    assert panel.flat.array[0, 0, 0] == 10 and panel.flat.image.value == render.png_bytes(panel.flat.array, scale=2)
    with panel.render_held():
        panel.level.value = 20
        with panel.render_held():  # nested holds keep holding
            panel.level.value = 30
        panel.level.value = 40
    assert panel.n_composites == 1 and panel.flat.array[0, 0, 0] == 10
    panel.render()
    assert panel.n_composites == 2 and panel.flat.array[0, 0, 0] == 40
    panel.is_ready = False
    panel.level.value = 50
    assert panel.n_composites == 2


def test_an_error_is_a_log_line_until_a_render_succeeds(dcgan):
    panel = Counting(dcgan)
    panel.level.set_state({"value": 13})  # as the browser sends it
    assert panel.log_area.last_error == "level: 13 is unlucky"
    panel.level.set_state({"value": 14})
    assert panel.log_area.last_error is None and panel.flat.array[0, 0, 0] == 14


def test_the_seed_box_and_its_validation(dcgan):
    panel = Counting(dcgan, seed=1)
    panel.set_seed(2)
    assert panel.seed.value == 2 and panel.n_composites == 1  # a new seed renders
    with pytest.raises(InvalidInputError, match=r"seed must be an int in \[0, 2147483647\]; got -1"):
        panel.set_seed(-1)
    with pytest.raises(InvalidInputError, match=r"seed must be an int in \[0, 2147483647\]; got 2,147,483,648"):
        panel.set_seed(2**31)  # the seed box would clamp it to 2**31 - 1 without a word
    assert panel.seed.value == 2
    with pytest.raises(InvalidTypeError, match="seed must be an int; got float 1.5"):
        Counting(dcgan, seed=1.5)
    seedless = Counting(dcgan, seed=None)
    assert seedless.seed is None
    with pytest.raises(ValueError, match="Counting has no seed box: it does not show samples by seed"):
        seedless.set_seed(3)


def test_the_region_toggle_shows_the_painter_and_checks_the_painted_mask(dcgan):
    panel = Counting(dcgan)
    roi = panel.use_painter(None)
    panel.region_toggle("region")
    row = panel.image_row()
    assert row.children[-1].children == (roi,) and row.children[-1].layout.display == "none"
    assert panel.painted_mask() is None and not panel.painting
    before = panel.n_composites
    roi.stroke([(1, 1), (2, 2)])  # the parts are the region: a stroke does not render
    assert panel.n_composites == before
    panel.set_region(PAINTED)
    assert panel.painting and panel._roi_box.layout.display == ""
    assert np.array_equal(panel.painted_mask(), roi.mask)
    roi.stroke([(3, 3)])  # the painted region is the region: a stroke renders
    assert panel.n_composites == before + 2
    roi.clear()
    with pytest.raises(ValueError, match="the painted region is empty: paint over the image with the mouse"):
        panel.painted_mask()
    with pytest.raises(ValueError, match=r"Invalid region: got 'all' instead of one of \{'parts', 'painted region'\}"):
        panel.set_region("all")


def test_a_background_job_reports_progress_success_and_failure(dcgan):
    panel = Counting(dcgan)
    button, progress = widgets.Button(), widgets.IntProgress()
    job = BackgroundJob("batch", button, progress, panel.log_area)
    release = threading.Event()

    def work():
        assert button.disabled
        progress.value = 1
        release.wait(timeout=30)
        progress.value = 2

    thread = job.start(work, total=2)
    assert job.running and progress.max == 2
    with pytest.raises(InvalidStateError, match="a batch is already running; wait for it to finish"):
        job.start(work, total=2)
    release.set()
    thread.join(timeout=30)
    assert not job.running and not button.disabled
    assert (progress.value, progress.bar_style) == (2, "success") and panel.log_area.last_error is None

    undone = []

    def fail():
        raise ValueError("no more samples")

    assert job.start(fail, total=3, background=False, on_error=lambda: undone.append(True)) is None
    assert progress.bar_style == "danger" and undone == [True] and not button.disabled
    assert panel.log_area.last_error == "batch: no more samples"
    assert isinstance(panel.log_area.last_exception, ValueError)


def test_the_rank_explorer_is_a_panel_without_a_seed_box(dcgan):
    explorer = RankExplorer(dcgan, "main.2", n_samples=4, precompute=())
    assert isinstance(explorer, Panel) and explorer.seed is None
    assert explorer.panes[1] is explorer.reconstructed and explorer.reconstructed.array is not None
