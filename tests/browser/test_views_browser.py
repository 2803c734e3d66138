"""The saliency and removal tabs in a real browser (JupyterLab, Debian's Chromium, Playwright).

At 1280 px: the saliency threshold is dragged and the mask the page shows changes while the
mouse button is still down (the slider is live); the removal tab shows its difference pane
and moving its strength changes it; no label of the two tabs is cut. See
tests/browser/conftest.py for the Lab and the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SERVER_START_S = 90     # JupyterLab up and answering
NOTEBOOK_RUN_S = 240    # the cells run, the Explorer shown
CHANGE_S = 30           # a render reaches the page
STEP_MS = 30_000        # any single Playwright wait
CELLS = [
    ("import panda_viz\nfrom panda_viz.widgets import Explorer\n"
     "G = panda_viz.load_generator('dcgan-digiface')\nzoo = panda_viz.load_edit_zoo('dcgan-digiface')\n"
     "model = zoo.load_model('white_lips', G)"),
    "app = Explorer(G, model, seed=1, zoo=zoo)\napp.show_tab('saliency')\napp",
]
# a label whose text is wider than its box is cut ("upload a phot…")
CUT_LABELS = """tab => [...document.querySelectorAll('.panda-explorer .widget-label, .panda-explorer .widget-label-basic')]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


@pytest.fixture
def lab(lab_for, notebook_of, tmp_path: Path):
    return lab_for(notebook_of(tmp_path / "views.ipynb", CELLS))


def _src(page, selector: str) -> str:
    return page.eval_on_selector(f"{selector} >> visible=true", "img => img.src")


def test_threshold_is_live_and_removal_shows_its_difference_in_chromium(lab, open_page, run_notebook,
                                                                        press_and_move, tmp_path: Path) -> None:
    page = open_page(1280, 1000, STEP_MS)
    mask = "img.panda-saliency-mask"
    changed = "([sel, src]) => { const e = [...document.querySelectorAll(sel)].find(i => i.offsetParent !== null);" \
              " return e && e.src !== src; }"
    try:
        run_notebook(page, lab, "views.ipynb", kernel_start_s=SERVER_START_S)
        page.wait_for_selector(mask, state="visible", timeout=NOTEBOOK_RUN_S * 1000)
        page.wait_for_function(f"() => document.querySelector('{mask}').naturalWidth > 0")
        assert page.evaluate(CUT_LABELS, None) == [], "labels cut in the saliency tab"

        # drag the threshold: the mask changes before the button is released
        before = _src(page, mask)
        press_and_move(page, ".panda-threshold .noUi-handle", 120)
        page.wait_for_function(changed, arg=[mask, before], timeout=CHANGE_S * 1000)
        page.mouse.up()
        page.locator(".panda-explorer").screenshot(path=str(tmp_path / "saliency.png"))  # for a look when debugging

        # the removal tab: its difference pane, and the strength moves it
        page.get_by_role("tab", name="removal").click()
        difference = "img.panda-removal-difference"
        page.wait_for_selector(difference, state="visible")
        page.wait_for_function(f"() => document.querySelector('{difference}').naturalWidth === 256")
        page.get_by_text("|removed − original| × 8").first.wait_for(state="visible")
        assert page.evaluate(CUT_LABELS, None) == [], "labels cut in the removal tab"
        before = _src(page, difference)
        press_and_move(page, ".panda-removal-strength .noUi-handle", 80)
        page.mouse.up()
        page.wait_for_function(changed, arg=[difference, before], timeout=CHANGE_S * 1000)
        page.locator(".panda-explorer").screenshot(path=str(tmp_path / "removal.png"))
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the app logged errors: {log_errors}"
    except Exception:
        page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
        print(lab.log_tail(), f"\nthe page when it failed: {tmp_path / 'failed.png'}")
        raise
