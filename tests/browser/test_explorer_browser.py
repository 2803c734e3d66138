"""The Explorer in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium, Playwright.

Runs a copy of ``notebooks/explore.ipynb`` in JupyterLab, checks every tab shows its image,
drags an α slider of the edit tab and checks that the edited image the browser shows
changes; then paints a region with the mouse and checks the edit follows it, and saves a
screenshot of the app to ``figures/widgets/explorer.png`` for the README. A second test
uploads a real photo in the photo tab (the file input, as a user's file dialog would),
presses invert, waits for its inversion, moves an α slider of the edit tab and checks that the edited
photo on screen changes (screenshot: ``figures/widgets/explorer_photo.png``). Under the
test session the screenshots go to ``$PANDA_VIZ_FIGURES`` (a scratch folder); to refresh the
checkout's, run this file with ``PANDA_VIZ_FIGURES=$PWD/figures``.

Chromium comes from the distribution (``apt-get install chromium``, done by ``.ci/run``);
Playwright only drives it (``executable_path``), it never downloads a browser. Without
``/usr/bin/chromium`` the test is skipped, unless the environment variable ``CI`` is set:
then it fails, because CI must run it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from panda_viz.runtime.figure_folder import figure_destination

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "explore.ipynb"
SCREENSHOT = figure_destination(REPO / "figures" / "widgets" / "explorer.png")
DIRECTIONS_SHOT = figure_destination(REPO / "figures" / "widgets" / "directions.png")

SERVER_START_S = 90     # JupyterLab up and answering
NOTEBOOK_RUN_S = 240    # all cells run, the Explorer shown (includes a small PandA fit)
IMAGE_CHANGE_S = 60     # one generator pass after the slider is released
STEP_MS = 30_000        # any single Playwright wait
# a tab of the Explorer -> an image it shows (the edit tab last: the slider is moved there)
TAB_IMAGES = {"parts": "img.panda-parts-overlay", "saliency": "img.panda-saliency",
              "removal": "img.panda-removed", "directions": "img.panda-direction-edited",
              "edit": "img.panda-edited"}


@pytest.fixture
def lab(lab_for):
    """JupyterLab serving an output-free copy of the Explorer notebook (tests/browser/conftest.py)."""
    return lab_for(NOTEBOOK)


def test_alpha_slider_changes_the_edited_image_in_chromium(lab, open_page, current_src,
                                                          drag, run_notebook, tmp_path: Path) -> None:
    edited = "img.panda-edited"
    page = open_page(1700, 1300, STEP_MS)
    try:
        # open the notebook, wait until its kernel is up, then run every cell as a user would
        run_notebook(page, lab, "explore.ipynb", kernel_start_s=SERVER_START_S)
        page.wait_for_selector(".panda-explorer", state="attached", timeout=NOTEBOOK_RUN_S * 1000)
        page.wait_for_selector("img.panda-parts-overlay", state="visible", timeout=NOTEBOOK_RUN_S * 1000)
        # every tab shows its images: PNGs the kernel pushed, decoded by the browser at 4× (256 px)
        for tab, image in TAB_IMAGES.items():
            page.get_by_role("tab", name=tab).click()
            page.wait_for_selector(image, state="visible")
            page.wait_for_function(f"() => document.querySelector('{image}').naturalWidth === 256")
            page.locator(".panda-explorer").screenshot(path=str(tmp_path / f"tab-{tab}.png"))
        page.locator(".panda-explorer").scroll_into_view_if_needed()
        before = current_src(page, edited)
        before_png = page.locator(edited).screenshot()

        # drag the first α slider's handle to the right and release it
        drag(page, ".panda-alpha .noUi-handle", 90)

        page.wait_for_function(f"src => document.querySelector('{edited}').src !== src", arg=before,
                               timeout=IMAGE_CHANGE_S * 1000)
        page.wait_for_timeout(300)  # let the new PNG paint
        after_png = page.locator(edited).screenshot()
        assert after_png != before_png, "the edited image's pixels did not change on screen"
        tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        assert tracebacks.count() == 0, tracebacks.all_inner_texts()
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the app logged errors: {log_errors}"

        # paint a region with the mouse (ipyevents on the image) and edit there instead
        before = current_src(page, edited)
        page.locator(".panda-explorer button:visible", has_text="painted region").click()
        roi = page.locator("img.panda-roi:visible")
        roi.wait_for(state="visible")
        roi_src = roi.evaluate("img => img.src")
        box = roi.bounding_box()
        assert box is not None, "the painting image is not laid out"
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.4 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.4 * box["height"], steps=10)
        page.mouse.up()
        page.wait_for_function("src => document.querySelector('img.panda-roi').src !== src", arg=roi_src)
        page.wait_for_function(f"src => document.querySelector('{edited}').src !== src", arg=before,
                               timeout=IMAGE_CHANGE_S * 1000)
        page.wait_for_function("() => ![...document.querySelectorAll('.panda-log')]"
                               ".some(e => e.innerText.includes('⚠'))")  # the 'empty region' message is gone

        # the README's screenshot: the edit applied in the painted region
        shot = SCREENSHOT.with_name(f".{SCREENSHOT.name}.tmp.png")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".panda-explorer").screenshot(path=str(shot))
        os.replace(shot, SCREENSHOT)  # atomic: never a half-written figure

        # the directions tab: ReSeFa's directions for the same painted region, a step along the first
        page.get_by_role("tab", name="directions").click()
        directed = "img.panda-direction-edited"
        page.locator(".panda-explorer button:visible", has_text="ReSeFa").click()
        before = current_src(page, directed)
        drag(page, ".panda-direction-alpha .noUi-handle", 60)
        page.wait_for_function(f"src => document.querySelector('{directed}').src !== src", arg=before,
                               timeout=IMAGE_CHANGE_S * 1000)
        page.locator(".panda-direction-readout", has_text="ROIR for the painted region").wait_for(state="visible")
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the app logged errors: {log_errors}"
        shot = DIRECTIONS_SHOT.with_name(f".{DIRECTIONS_SHOT.name}.tmp.png")
        page.locator(".panda-explorer").screenshot(path=str(shot))
        os.replace(shot, DIRECTIONS_SHOT)
    except Exception:
        print(lab.log_tail())
        raise



# --------------------------------------------------------------------------- a photo
PHOTO_SHOT = figure_destination(REPO / "figures" / "widgets" / "explorer_photo.png")
INVERSION_S = 600       # the upload inverted (few steps, but on a machine shared with other jobs)
PHOTO_CELLS = [
    "import panda_viz\nfrom panda_viz.widgets import Explorer\n"
    "G = panda_viz.load_generator('dcgan-digiface')\nzoo = panda_viz.load_edit_zoo('dcgan-digiface')\n"
    "model = zoo.load_model('white_lips', G)",
    # fewer steps than invert's defaults: this checks the app, benchmarks/bench_inversion.py the method
    "app = Explorer(G, model, seed=1, zoo=zoo,\n"
    "               invert_options=dict(n_starts=2, latent_steps=10, feature_steps=40, tune_steps=20))\n"
    "app.show_tab('photo')\napp",
]


@pytest.fixture
def photo_lab(lab_for, notebook_of, tmp_path: Path):
    """JupyterLab serving a two-cell notebook: the Explorer opened on its photo tab."""
    return lab_for(notebook_of(tmp_path / "photo.ipynb", PHOTO_CELLS))


def test_an_uploaded_photo_is_inverted_and_edited_in_chromium(photo_lab, open_page,
                                                               current_src, drag, run_notebook, upload_photo,
                                                               tmp_path: Path) -> None:
    from matplotlib import cbook

    photo = tmp_path / "grace_hopper.jpg"
    photo.write_bytes(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes())
    edited = "img.panda-edited"
    lab = photo_lab
    page = open_page(1700, 1300, STEP_MS)
    try:
        run_notebook(page, lab, "photo.ipynb", kernel_start_s=SERVER_START_S)
        page.wait_for_selector(".panda-photo-source", state="visible", timeout=NOTEBOOK_RUN_S * 1000)

        upload_photo(page, photo)  # as a user would: the upload button's file input
        page.wait_for_selector("img.panda-photo-target", state="visible")
        page.locator(".panda-photo-invert").click()  # the upload waits for the crop
        page.locator(".panda-photo-status", has_text="dB PSNR").wait_for(state="visible",
                                                                         timeout=INVERSION_S * 1000)
        page.wait_for_selector("img.panda-photo-reconstruction", state="visible")
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the app logged errors: {log_errors}"

        # the edit tab now shows the photo: move an α slider, the edited photo changes on screen
        page.get_by_role("tab", name="edit").click()
        page.wait_for_selector(edited, state="visible")
        page.wait_for_function(f"() => document.querySelector('{edited}').naturalWidth === 256")
        before = current_src(page, edited)
        before_png = page.locator(edited).screenshot()
        drag(page, ".panda-alpha .noUi-handle", 90)
        page.wait_for_function(f"src => document.querySelector('{edited}').src !== src", arg=before,
                               timeout=IMAGE_CHANGE_S * 1000)
        page.wait_for_timeout(300)
        assert page.locator(edited).screenshot() != before_png, "the edited photo did not change on screen"
        tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        assert tracebacks.count() == 0, tracebacks.all_inner_texts()
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the app logged errors: {log_errors}"

        page.get_by_role("tab", name="photo", exact=True).click()
        page.wait_for_selector("img.panda-photo-reconstruction", state="visible")
        shot = PHOTO_SHOT.with_name(f".{PHOTO_SHOT.name}.tmp.png")
        PHOTO_SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".panda-explorer").screenshot(path=str(shot))
        os.replace(shot, PHOTO_SHOT)
    except Exception:
        print(lab.log_tail())
        raise


# --------------------------------------------------------------------------- the edit tab
EDIT_CELLS = [
    "import os\nimport panda_viz\nfrom panda_viz.widgets import Explorer\n"
    "os.environ['PANDA_VIZ_WORK'] = {work!r}\n"
    "G = panda_viz.load_generator('dcgan-digiface')\nzoo = panda_viz.load_edit_zoo('dcgan-digiface')\n"
    "model = zoo.load_model('white_lips', G)",
    "app = Explorer(G, model, seed=1, zoo=zoo)\napp.show_tab('edit')\napp",
]
# the pixels an <img> shows, at its natural size (the kernel's PNG, 4× nearest)
_PIXELS = ("img => { const c = document.createElement('canvas'); c.width = img.naturalWidth;"
           " c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
           " return Array.from(g.getImageData(0, 0, c.width, c.height).data); }")
# elements of the Explorer wider inside than they are shown: cut labels, rows scrolling sideways
_OVERFLOW = ("root => [...root.querySelectorAll('.widget-label, .widget-inline-hbox, .widget-hbox, .widget-vbox,"
             " .lm-TabPanel, .widget-tab-contents')].filter(e => e.offsetParent !== null"
             " && e.scrollWidth > e.clientWidth + 1).map(e => `${e.scrollWidth}>${e.clientWidth} `"
             " + (e.className + ' ' + e.innerText).slice(0, 80) + ' widest: ' + [...e.querySelectorAll('*')]"
             ".filter(c => c.getBoundingClientRect().right > e.getBoundingClientRect().right + 1)"
             ".map(c => c.className.toString().slice(0, 40) + '@' + Math.round(c.getBoundingClientRect().left) + '+' + Math.round(c.getBoundingClientRect().width) + ':' + getComputedStyle(c).width + '/' + getComputedStyle(c).minWidth).slice(0, 3).join(' | ') + ' box@' + Math.round(e.getBoundingClientRect().left) + '+' + Math.round(e.getBoundingClientRect().width))")


def _shown(page, selector: str):
    import numpy as np

    flat = np.array(page.eval_on_selector(selector, _PIXELS), np.uint8)
    side = int(round((flat.size // 4) ** 0.5))
    return flat.reshape(side, side, 4)[::4, ::4, :3]  # back to the kernel's 64×64 pixels


def test_the_edit_tab_is_live_saves_images_and_its_code_line_reproduces_it(lab_for, notebook_of, open_page,
                                                                         current_src, run_notebook,
                                                                         tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    import panda_viz
    import panda_viz.editing.edits  # noqa: F401 - the code line names it
    import panda_viz.imaging.render  # noqa: F401

    work = tmp_path / "work"
    lab = lab_for(notebook_of(tmp_path / "edit.ipynb", [source.format(work=str(work)) for source in EDIT_CELLS]))
    edited = "img.panda-edited"
    page = open_page(1280, 1000, STEP_MS)
    try:
        run_notebook(page, lab, "edit.ipynb", kernel_start_s=SERVER_START_S)
        page.wait_for_selector(edited, state="visible", timeout=NOTEBOOK_RUN_S * 1000)
        page.wait_for_function(f"() => document.querySelector('{edited}').naturalWidth === 256")
        overflow = page.eval_on_selector(".panda-explorer", _OVERFLOW)
        assert not overflow, f"cut or scrolling sideways at 1280 px: {overflow}"

        # live α: the image changes while the handle is held, before the release
        handle = page.locator(".panda-alpha .noUi-handle >> visible=true").first
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        seen = {current_src(page, edited)}
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 9):
            page.mouse.move(x + 10 * step, y, steps=2)
            page.wait_for_timeout(250)
            seen.add(current_src(page, edited))
        assert len(seen) > 2, "the edited image did not change while dragging"
        page.mouse.up()
        # the last value is what is drawn: the code line (that α) run here gives the pixels on screen
        page.wait_for_timeout(1500)
        line = page.locator(".panda-edit-code textarea").input_value()
        assert "G.sample_latents(1, seed=1)" in line
        G = panda_viz.load_generator("dcgan-digiface")
        scope = {"G": G, "model": panda_viz.load_edit_zoo("dcgan-digiface").load_model("white_lips", G),
                 "panda_viz": panda_viz}
        exec(line, scope)  # noqa: S102 - the line a user copies
        expected = panda_viz.imaging.render.to_uint8(scope["images"])[0]
        assert np.array_equal(_shown(page, edited), expected), "the image on screen is not the code line's"

        # save image: a PNG of the same pixels in the work folder, its path in the log
        page.locator(".panda-explorer button:visible", has_text="save image").click()
        page.locator(".panda-log", has_text="saved the edited image to").first.wait_for(state="visible")
        saved = work / "images" / "edited-seed1-1.png"
        assert np.array_equal(np.asarray(Image.open(saved).convert("RGB")), expected)
        log_errors = page.locator(".panda-log").all_inner_texts()
        assert not any("⚠" in text for text in log_errors), f"the app logged errors: {log_errors}"

        # every other tab at 1280 px: nothing cut, nothing scrolling sideways
        for tab in ("parts", "saliency", "removal", "directions", "fit", "photo"):
            page.get_by_role("tab", name=tab).click()
            if tab in TAB_IMAGES:
                page.wait_for_selector(TAB_IMAGES[tab], state="visible")
            page.wait_for_timeout(300)
            overflow = page.eval_on_selector(".panda-explorer", _OVERFLOW)
            assert not overflow, f"the {tab} tab is cut or scrolls sideways at 1280 px: {overflow}"
    except Exception:
        print(lab.log_tail())
        raise
