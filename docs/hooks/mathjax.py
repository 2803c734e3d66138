"""MkDocs hook: the notebook pages typeset their maths with a MathJax shipped in the docs extra.

mkdocs-jupyter renders a notebook through nbconvert's template, which loads MathJax 2 from
``custom_mathjax_url`` and configures it inline (``$…$`` and ``$$…$$``, AMS numbering). The
MathJax here is the copy the Jupyter project packages as ``jupyter-server-mathjax`` (2.7.9,
the line nbconvert's template is written for): this hook publishes its ``static/`` tree
under ``assets/mathjax/``, with ``mathjax_local.js`` (that copy's fonts) as its
``config/local/panda_viz.js``, and gives each notebook page a URL to it relative to that page,
so the site asks no CDN for it, served or opened from disk.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

PACKAGE = "jupyter_server_mathjax"
SITE_FOLDER = "assets/mathjax"
ENTRY = "MathJax.js"
# our settings for that copy (its fonts), published where MathJax looks for "local/panda_viz"
LOCAL_CONFIG = Path(__file__).with_name("mathjax_local.js")
LOCAL_CONFIG_URI = "config/local/panda_viz.js"
# MathJax's full TeX/MathML configuration, as nbconvert's default URL asks; its "Safe"
# extension (no javascript: links or styles from a notebook's maths); our settings
QUERY = "?config=TeX-AMS-MML_HTMLorMML-full,Safe,local/panda_viz"
NOTEBOOKS_PLUGIN = "mkdocs-jupyter"


def mathjax_folder() -> Path:
    """The installed ``jupyter_server_mathjax/static`` folder (found without importing the
    package, which would import jupyter_server)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(f"the docs need {PACKAGE!r} for MathJax and it is not installed: "
                          "pip install -e '.[docs]' (or bash setup.sh)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (folder / ENTRY).is_file():
        raise PluginError(f"{folder} has no {ENTRY}: reinstall {PACKAGE}")
    return folder


def on_files(files: Files, config) -> Files:
    folder = mathjax_folder()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            uri = f"{SITE_FOLDER}/{path.relative_to(folder).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    files.append(File.generated(config, f"{SITE_FOLDER}/{LOCAL_CONFIG_URI}", abs_src_path=str(LOCAL_CONFIG)))
    return files


# before mkdocs-jupyter's on_pre_page, which reads custom_mathjax_url when it renders the page
@event_priority(100)
def on_pre_page(page, config, files):
    notebooks = config["plugins"].get(NOTEBOOKS_PLUGIN)
    if notebooks is not None and page.file.src_uri.endswith(".ipynb"):
        notebooks.config["custom_mathjax_url"] = get_relative_url(f"{SITE_FOLDER}/{ENTRY}", page.url) + QUERY
    return page
