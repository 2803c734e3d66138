"""The README's tour runs as written, and says what it returns."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_source() -> str:
    text = README.read_text()
    section = text[text.index("## A tour"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_tour_runs_and_its_comments_hold():
    namespace: dict = {}
    exec(compile(tour_source(), str(README), "exec"), namespace)
    model, x, maps, photo, x_photo = (namespace[k] for k in ("model", "x", "maps", "photo", "x_photo"))
    assert tuple(model.parts_.shape) == (8, 8, 8) and (model.parts_ >= 0).all()
    assert tuple(model.appearances_.shape) == (256, 256)
    assert tuple(x.shape) == (4, 3, 64, 64) and tuple(maps.shape) == (4, 1, 8, 8)
    assert tuple(x_photo.shape) == (1, 3, 64, 64) and float(photo.psnr.min()) > 30
    assert type(namespace["app"]).__name__ == "Explorer"
