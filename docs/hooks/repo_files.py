"""MkDocs hook: publish the repository's figures and notebooks inside the site.

The pages link to ``figures/…png`` and the notebooks (rendered by mkdocs-jupyter) as if
they sat in ``docs/``; they live at the top of the repository, where the notebooks write
them and the README links them, so this hook adds them to the site's files instead of
keeping copies in ``docs/``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = {"figures": "*.png", "notebooks": "*.ipynb"}


# before mkdocs-jupyter's own on_files, which turns .ipynb files into pages
@event_priority(100)
def on_files(files: Files, config) -> Files:
    for folder, pattern in PUBLISHED.items():
        for path in sorted((REPO / folder).rglob(pattern)):
            if ".ipynb_checkpoints" in path.parts:
                continue
            files.append(File(path.relative_to(REPO).as_posix(), str(REPO), config["site_dir"],
                              config["use_directory_urls"]))
    return files
