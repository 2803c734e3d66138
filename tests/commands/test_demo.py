"""``panda-viz demo``: the real generator and solver, small counts, into a temporary folder."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from panda_viz.commands.cli import main

FIGURES = ["parts.png", "saliency.png", "edits.png", "removal.png", "named_edits.png", "real_photo.png"]


def test_demo_writes_its_figures_and_says_so(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n-samples", "48", "--n-parts", "4", "--seed", "1", "--photo-steps", "3"]) == 0
    printed = capsys.readouterr().out
    for name in FIGURES:
        path = out / name
        assert f"wrote {path}" in printed
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 400 and image.height > 200
    assert sorted(p.name for p in out.iterdir()) == sorted(FIGURES)  # no temporary files left
    steps = re.findall(r"^\[(\d)/9\] (.+) \((\d+\.\d) s\)$", printed, re.M)
    assert [int(s[0]) for s in steps] == list(range(1, 10))
    assert "fitted PandA at main.5 (256×8×8) on 48 samples, 4 parts" in printed
    assert re.search(r"proposed background appearance: \d+", printed)
    assert len(re.findall(r"edit: part \d+ × appearance \d+, α = [+-]\d", printed)) == 4
    assert "named edits: white_lips, " in printed and "plain_background" in printed
    assert re.search(r"photo reconstruction: \d+\.\d dB PSNR \(stages: latents", printed)
    assert re.search(r"^done in \d+\.\d s$", printed, re.M)


def test_unknown_layer_is_refused_before_writing(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--layer", "main.55"]) == 2
    err = capsys.readouterr().err
    assert "layer 'main.55' not found; did you mean 'main.5' or 'main' or 'main.9'? Layers: main.0 (512×4×4)" in err
    assert not out.exists()


def test_too_many_parts_is_refused(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n-parts", "65"]) == 2
    assert "--n-parts must be at most H×W = 64 at layer main.5; got 65" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("--n-samples", "0"), ("--n-samples", "-3"), ("--n-parts", "x")])
def test_non_positive_counts_exit_with_a_message(tmp_path, capsys, option, value):
    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(out), option, value])
    assert exit_info.value.code == 2
    assert f"argument {option}: expected a positive integer; got" in capsys.readouterr().err
    assert not out.exists()
