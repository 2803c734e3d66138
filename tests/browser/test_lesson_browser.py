"""The tensor-decomposition lesson in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium.

Runs an output-free copy of ``notebooks/lesson_tensor_decompositions.ipynb`` cell by cell as
a class would (Run All), waits for the RankExplorer's first view (the reconstruction and the
error plot at its projector size, the background sweep's line), drags the spatial-rank slider
and checks that the image the generator draws from the reconstruction changes on screen, then
steps R_S by one with the "+1" button and checks that it is redrawn at that rank, with no
traceback and no message in the component. Skipped without /usr/bin/chromium unless CI is set.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "lesson_tensor_decompositions.ipynb"
SERVER_START_S = 90     # the kernel up
NOTEBOOK_RUN_S = 600    # every cell, the lesson's fits included, on a busy two-core machine
IMAGE_CHANGE_S = 120    # one reconstruction and one generator pass (a fit the first time a rank is asked)
STEP_MS = 30_000
RECONSTRUCTED = "img.panda-rank-reconstructed"


def test_moving_the_spatial_rank_redraws_the_reconstructed_face(lab_for, open_page, drag,
                                                                current_src, run_notebook, tmp_path: Path) -> None:
    lab = lab_for(NOTEBOOK)
    page = open_page(1500, 1200, STEP_MS)
    try:
        run_notebook(page, lab, NOTEBOOK.name, kernel_start_s=SERVER_START_S)
        page.wait_for_selector(RECONSTRUCTED, state="visible", timeout=NOTEBOOK_RUN_S * 1000)
        page.wait_for_function(f"() => document.querySelector('{RECONSTRUCTED}').naturalWidth === 256")
        # the error plot at its display size (1056 px wide: 14 pt text at 96 dpi), and the sweep's line
        page.wait_for_function("() => document.querySelector('img.panda-rank-error').naturalWidth === 1056")
        page.locator(".panda-rank-sweep").filter(has_text="R_C = ").wait_for(state="visible")
        status = page.locator(".panda-rank-status")
        # the notebook's last cells move the ranks to (R_C, 4) from the kernel: wait for them
        status.filter(has_text="R_S = 4").wait_for(state="visible", timeout=NOTEBOOK_RUN_S * 1000)
        page.locator(RECONSTRUCTED).scroll_into_view_if_needed()
        before = current_src(page, RECONSTRUCTED)
        before_png = page.locator(RECONSTRUCTED).screenshot()
        before_status = status.inner_text()

        drag(page, ".panda-rank-rs .noUi-handle", 120)   # a higher spatial rank

        page.wait_for_function(f"src => document.querySelector('{RECONSTRUCTED}').src !== src", arg=before,
                               timeout=IMAGE_CHANGE_S * 1000)
        page.wait_for_timeout(300)  # let the new PNG paint
        assert page.locator(RECONSTRUCTED).screenshot() != before_png, "the reconstructed image did not change on screen"
        # the status line (error, ranks) is written after the images: wait for it too
        page.wait_for_function("text => document.querySelector('.panda-rank-status').innerText !== text",
                               arg=before_status, timeout=IMAGE_CHANGE_S * 1000)
        assert "R_S = 4" not in status.inner_text()
        settled = status.inner_text()
        for _ in range(40):  # a live slider may still be drawing the drag's last values: wait until it rests
            page.wait_for_timeout(1500)
            if status.inner_text() == settled:
                break
            settled = status.inner_text()
        r_s = int(re.search(r"R_S = (\d+)", settled).group(1))
        if r_s < 64:  # one step up with the "+1" button: redrawn at exactly that rank
            after_drag = current_src(page, RECONSTRUCTED)
            page.locator(".panda-rank-rs-steps .panda-rank-step", has_text="+1").click()
            status.filter(has_text=f"R_S = {r_s + 1}:").wait_for(state="visible", timeout=IMAGE_CHANGE_S * 1000)
            page.wait_for_function(f"src => document.querySelector('{RECONSTRUCTED}').src !== src", arg=after_drag,
                                   timeout=IMAGE_CHANGE_S * 1000)
        tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        assert tracebacks.count() == 0, tracebacks.all_inner_texts()
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the component logged errors: {log_errors}"
        page.locator(".panda-rank-reconstructed").screenshot(path=str(tmp_path / "reconstructed.png"))
    except Exception:
        print(lab.log_tail())
        raise
