"""``panda-viz render`` takes what ``panda-viz fit`` writes and what the Explorer saves, and says which
option a file belongs to when it is given to the wrong one."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from panda_viz.commands import cli
from panda_viz.decomposition import fit_generator
from panda_viz.editing.edits import edit_images
from panda_viz.exceptions import ConvergenceWarning
from panda_viz.formats.factors import load_factors
from panda_viz.imaging.render import to_uint8
from panda_viz.widgets import EditPanel

SEEDS = range(3, 6)


def _png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _rendered(out, folder: str) -> list[np.ndarray]:
    return [_png(out / folder / f"{s:08d}.png") for s in SEEDS]


def _render(*options: str) -> int:
    return cli.main(["render", "dcgan-digiface", "--seeds", f"{SEEDS.start}:{SEEDS.stop}", "--no-progress",
                     "--device", "cpu", *options])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """What ``panda-viz fit`` writes: a small fit of main.5 (4 parts, 32 samples, 10 iterations)."""
    factors = tmp_path_factory.mktemp("fit") / "factors.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few iterations are enough here
        assert cli.main(["fit", "dcgan-digiface", "--layer", "main.5", "--samples", "32", "--parts", "4",
                         "--max-iter", "10", "--seed", "0", "--out", str(factors), "--no-progress", "--device", "cpu"]) == 0
    return factors


def test_fit_then_render_factors_with_terms_writes_the_edit_images(fitted, dcgan, tmp_path, capsys):
    out = tmp_path / "renders"
    assert _render("--factors", str(fitted), "--term", "1:2:2.5", "--term", "0+3:5:-1.5", "--name", "pale_mouth",
                   "--out", str(out)) == 0
    assert "3 images written" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "pale_mouth"]
    model = load_factors(fitted)
    latents = torch.cat([dcgan.sample_latents(1, seed=s) for s in SEEDS])
    expected = to_uint8(edit_images(dcgan, latents, model, [(1, 2, 2.5), ((0, 3), 5, -1.5)]))
    for image, want in zip(_rendered(out, "pale_mouth"), expected):
        assert np.array_equal(image, want)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["edits"] == [{"name": "pale_mouth", "factors": str(fitted), "terms": [[1, 2, 2.5], [[0, 3], 5, -1.5]]}]


def test_explorer_save_then_render_one_folder_equal_to_the_panels_images(fitted, dcgan, tmp_path, monkeypatch):
    monkeypatch.setenv("PANDA_VIZ_WORK", str(tmp_path))
    model = load_factors(fitted)
    panel = EditPanel(dcgan, model, seed=SEEDS.start, n_rank_candidates=4)
    panel.set_alpha(0, -2.0)
    panel.add_term(part=3, alpha=3.0)
    panel.keep("pale_mouth")
    shown = []
    for s in SEEDS:
        panel.seed.value = s
        shown.append(panel.edited.array.copy())
    saved = panel.save(tmp_path / "edits" / "mine.json")
    out = tmp_path / "renders"
    assert _render("--edits", str(saved), "--edit", "pale_mouth", "--out", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "pale_mouth"]  # one folder, all terms
    for image, want in zip(_rendered(out, "pale_mouth"), shown):
        assert np.array_equal(image, want)
    assert _render("--edits", str(saved), "--edit", "pale_mouth", "--alpha", "2", "--out", str(tmp_path / "a")) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--edits", "{factors}"], ("--edits '{factors}' holds saved factors (an .npz, as panda-viz fit writes), which "
                                    "--edits does not take; use --factors FILE --term PART:APPEARANCE:ALPHA")),
        (["--factors", "{zoo}", "--term", "0:0:1"], ("--factors '{zoo}' holds JSON (an edit zoo, as the Explorer saves?), "
                                                     "which --factors does not take; use --edits FILE")),
        (["--term", "0:0:1"], "--term needs --factors FILE"),
        (["--factors", "{factors}"], "--factors needs at least one --term PART:APPEARANCE:ALPHA"),
        (["--factors", "{factors}", "--term", "4:0:1"], "edit term part 4 × appearance 0, α = +1: part 4 out of range; the model has 4 parts"),
        (["--factors", "{factors}", "--term", "0:0:1", "--edit", "white_lips"], "--edit belongs to named edits: leave it out"),
        (["--factors", "{factors}", "--term", "0:0:1", "--name", "original"], "--name may not be 'original'"),
        (["--factors", "{factors}", "--term", "0:0:1", "--layer", "main.8"],
         "the factors were fitted at layer 'main.5'; got layer='main.8'"),
        (["--edit", "white_lips", "--layer", "main.5"], "--layer goes with --factors"),
    ],
)
def test_a_file_given_to_the_wrong_option_names_the_right_one(fitted, tmp_path, capsys, options, message):
    zoo = tmp_path / "zoo.json"
    zoo.write_text(json.dumps({"format": "panda_viz.edit_zoo", "version": 1, "name": "z", "edits": {}}))
    paths = {"factors": str(fitted), "zoo": str(zoo)}
    out = tmp_path / "r"
    assert _render(*(o.format(**paths) for o in options), "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("panda-viz render: error: ") and message.format(**paths) in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("term", "expected"),
    [("8:3:2.5", (8, 3, 2.5)), ("1+2:5:-1.5", ((1, 2), 5, -1.5)), (" 0 : 0 : 0 ", (0, 0, 0.0))],
)
def test_term_parses(term, expected):
    from panda_viz.commands.arguments import edit_term

    assert edit_term(term) == expected


@pytest.mark.parametrize(
    ("term", "message"),
    [("1:2", "expected PART:APPEARANCE:ALPHA"), ("a:2:1", "a part index; got 'a'"), ("1:-2:1", "with indices >= 0"),
     ("1:2:nan", "ALPHA a finite number"), ("1:2:1e9", "of magnitude at most 10000"), ("1+:2:1", "a part index; got ''")],
)
def test_bad_terms_are_refused_when_parsed(term, message, capsys):
    with pytest.raises(SystemExit):
        _render("--factors", "f.npz", "--term", term, "--out", "o")
    assert message in capsys.readouterr().err


def test_a_multi_term_edit_of_a_zoo_is_one_folder(dcgan, tmp_path):
    """The same through the Python API: a zoo entry of several terms renders as one job."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fit_generator(dcgan, "main.5", n_samples=16, seed=0, n_parts=3, max_iter=3, n_restarts=1, random_state=0)
    from panda_viz.formats.edit_zoo import EditZoo

    zoo = EditZoo("z", generator_name=dcgan.name)
    zoo.add_terms("both", layer="main.5", n_parts=3, terms=[(0, 1, 2.0), (2, 3, -1.0)], factors="f.npz")
    zoo.save(tmp_path / "z.json", factors={"f.npz": model})
    out = tmp_path / "r"
    assert _render("--edits", str(tmp_path / "z.json"), "--out", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["both", "manifest.json"]
    latents = torch.cat([dcgan.sample_latents(1, seed=s) for s in SEEDS])
    expected = to_uint8(edit_images(dcgan, latents, load_factors(tmp_path / "f.npz"), [(0, 1, 2.0), (2, 3, -1.0)]))
    for image, want in zip(_rendered(out, "both"), expected):
        assert np.array_equal(image, want)
