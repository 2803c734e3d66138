"""The Explorer's photo tab in Chromium: upload, drag the crop, invert on the button, the code line.

At 1280 px wide (the issue's laptop): before an upload there is no broken-image icon and
the upload button's label is whole; the upload shows the whole photo with its crop box and
starts nothing; dragging the box's corner changes the typed box and the cropped photo; the
invert button inverts it; the photo tab then shows the PSNR and a code line that loads the
saved inversion of this photo (not a seed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


SERVER_START_S = 90     # JupyterLab up and answering
NOTEBOOK_RUN_S = 240    # the cells run, the Explorer shown
INVERSION_S = 600       # a few inversion steps on a machine shared with other jobs
STEP_MS = 30_000        # any single Playwright wait
CELLS = [
    "import panda_viz\nfrom panda_viz.widgets import Explorer\n"
    "G = panda_viz.load_generator('dcgan-digiface')\nzoo = panda_viz.load_edit_zoo('dcgan-digiface')\n"
    "model = zoo.load_model('white_lips', G)",
    # few steps: this checks the app, benchmarks/bench_inversion.py the method
    "app = Explorer(G, model, seed=1, zoo=zoo,\n"
    "               invert_options=dict(n_starts=1, latent_steps=5, feature_steps=10, tune_steps=5))\n"
    "app.show_tab('photo')\napp",
]


@pytest.fixture
def photo_lab(lab_for, notebook_of, tmp_path: Path, monkeypatch):
    """JupyterLab serving a two-cell notebook (the Explorer on its photo tab); saves go to a temporary work folder."""
    monkeypatch.setenv("PANDA_VIZ_WORK", str(tmp_path / "work"))  # the kernel inherits it
    return lab_for(notebook_of(tmp_path / "photo.ipynb", CELLS))


def test_upload_drag_the_crop_invert_and_the_code_line(photo_lab, open_page, current_src, run_notebook,
                                                       upload_photo, tmp_path: Path) -> None:
    from matplotlib import cbook

    photo = tmp_path / "grace_hopper.jpg"
    photo.write_bytes(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes())
    lab = photo_lab
    page = open_page(1280, 1000, STEP_MS)
    try:
        run_notebook(page, lab, "photo.ipynb", kernel_start_s=SERVER_START_S)
        page.wait_for_selector(".panda-photo-source", state="visible", timeout=NOTEBOOK_RUN_S * 1000)
        # before an upload: no image element shown (no broken-image icons), the upload label whole
        for selector in ("img.panda-photo-full", "img.panda-photo-target", "img.panda-photo-reconstruction"):
            assert not page.locator(selector).is_visible(), f"{selector} is shown before an upload"
        cut = page.eval_on_selector(".panda-photo-upload", "b => b.scrollWidth > b.clientWidth + 1")
        assert not cut, page.locator(".panda-photo-upload").inner_text()

        upload_photo(page, photo)
        full = "img.panda-photo-full"
        page.wait_for_selector(full, state="visible")
        page.wait_for_selector("img.panda-photo-target", state="visible")
        assert not page.locator("img.panda-photo-reconstruction").is_visible()  # nothing inverted yet
        assert "dB PSNR" not in page.locator(".panda-photo-status").inner_text()

        # drag the crop box's bottom-right corner up and left: the box of 512×600 is (0, 44, 512, 556)
        target_before = current_src(page, "img.panda-photo-target")
        rect = page.locator(full).bounding_box()
        k = rect["width"] / 512
        page.mouse.move(rect["x"] + 510 * k, rect["y"] + 554 * k)
        page.mouse.down()
        page.mouse.move(rect["x"] + 360 * k, rect["y"] + 404 * k, steps=8)
        page.mouse.up()
        box = page.locator(".panda-photo-source input[placeholder='left, top, right, bottom']")
        box.wait_for(state="visible")  # the crop became a typed box
        page.wait_for_function("() => document.querySelector(\"input[placeholder='left, top, right, bottom']\")"
                               ".value !== '0, 44, 512, 556'")
        left, top, right, bottom = (int(v) for v in box.input_value().split(","))
        assert (left, top) == (0, 44) and right - left == bottom - top and 300 < right < 420, box.input_value()
        page.wait_for_function("src => document.querySelector('img.panda-photo-target').src !== src",
                               arg=target_before)

        page.locator(".panda-photo-invert").click()
        page.locator(".panda-photo-status", has_text="dB PSNR").wait_for(state="visible", timeout=INVERSION_S * 1000)
        page.wait_for_selector("img.panda-photo-reconstruction", state="visible")
        code = page.locator(".panda-photo-code textarea").input_value()
        assert "panda_viz.load_inversion(" in code and "grace_hopper" in code, code
        assert f"box=({left}, {top}, {right}, {bottom})" in code and "sample_latents" not in code, code
        assert any((tmp_path / "work" / "photos").glob("grace_hopper-*.inversion.npz"))
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the app logged errors: {log_errors}"
        tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        assert tracebacks.count() == 0, tracebacks.all_inner_texts()
    except Exception:
        print(lab.log_tail())
        raise
