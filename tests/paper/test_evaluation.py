"""Table 2 on the embedded generator at a tiny size: the protocol's properties, the files, the CLI."""

from __future__ import annotations

import csv
import math
import warnings

import pytest
import torch
from testdata import data_folder

import panda_viz
from panda_viz.baselines import sefa
from panda_viz.commands import cli
from panda_viz.commands import table2 as table2_command
from panda_viz.exceptions import ConvergenceWarning, InvalidIndexError
from panda_viz.paper.evaluation import (
    NO_STYLE_SPACE,
    Table2Result,
    _calibrate,
    _latent_candidates,
    inside_change,
    table2,
)
from panda_viz.paper.regions import face_mask

TINY = dict(n_eval=12, n_select=6, n_candidates=2, fit_samples=64, resefa_samples=2, lowrankgan_samples=1,
            ganspace_samples=150, swd_descriptors=4, progress=False,
            lowrankgan_options={"max_iter": 60})  # a short Robust PCA: the protocol's properties, not its numbers
ORDER = ["SeFa", "GANSpace", "StyleSpace", "LowRankGAN", "ReSeFa", "PandA"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("table2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return table2(regions=("mouth",), out_dir=out, **TINY), out


def test_rows_and_files(tiny):
    result, out = tiny
    assert isinstance(result, Table2Result)
    assert [(r.method, r.region) for r in result.rows] == [(m, "mouth") for m in ORDER]  # the paper's order
    style = result.row("StyleSpace", "mouth")  # the DCGAN has no style space
    assert not style.available and style.note == NO_STYLE_SPACE == "n/a: no style space" and math.isnan(style.roir_mean)
    assert result.row("LowRankGAN", "mouth").candidate.startswith("LowRankGAN direction ")
    for r in [r for r in result.rows if r.available]:
        assert r.roir_mean > 0 and r.roir_std >= 0 and r.swd > 0 and r.fid is None and r.n_unchanged == 0
        assert r.alpha > 0 and r.candidate.startswith(r.method)
    with open(out / "table2.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["method"] for row in rows] == ORDER
    assert float(rows[1]["roir_mean"]) == pytest.approx(result.rows[1].roir_mean, rel=1e-5)
    assert rows[2]["note"] == NO_STYLE_SPACE and rows[2]["roir_mean"] == "nan"
    assert (out / "table2_edits.png").stat().st_size > 1000
    md = (out / "table2.md").read_text()
    assert "| method | mouth ROIR | mouth SWD |" in md and "| ReSeFa |" in md and "| LowRankGAN |" in md
    assert "| StyleSpace | n/a: no style space |" in md
    with pytest.raises(InvalidIndexError, match=r"no row for method 'SeFa' and region 'eyes'; rows: \('SeFa', 'mouth'\)"):
        result.row("SeFa", "eyes")  # a LookupError, as the KeyError it was


def test_matched_strength_on_the_selection_samples(dcgan):
    """The calibration step meets its own tolerance: c(α) within 5 % of the target."""
    z = dcgan.sample_latents(6, seed=11)
    x = dcgan.synthesize(z)
    mask = face_mask("eyes")
    cand = _latent_candidates(dcgan, sefa(dcgan, k=1), "SeFa", 1, 64)[0]
    alpha, score = _calibrate(cand, z, x, mask, 0.2)
    assert inside_change(x, cand.edit(z, alpha), mask) == pytest.approx(0.2, rel=0.05)
    assert score > 0
    # an unreachable target is reported as None, never an extreme alpha
    assert _calibrate(cand, z, x, mask, 50.0) is None


def test_inside_change_is_rms_per_masked_value():
    x = torch.zeros(2, 3, 8, 8)
    m = torch.zeros(8, 8)
    m[:2] = 1
    assert inside_change(x, x + 0.3, m) == pytest.approx(0.3)


@pytest.mark.filterwarnings("ignore::panda_viz.exceptions.ConvergenceWarning")
def test_a_stylespace_row_on_a_style_based_generator():
    """StyleSpace's channels compete by the same rule on a generator that has a style space; rows keep the order."""
    folder = data_folder("stylegan2")
    G = panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json")
    result = table2(G, layer="synthesis.b16", methods=("StyleSpace", "LowRankGAN"), regions=("mouth",),
                    **{**TINY, "n_select": 2, "n_eval": 4, "stylespace_samples": 1})
    assert [r.method for r in result.rows] == ["StyleSpace", "LowRankGAN"]
    row = result.row("StyleSpace", "mouth")
    assert row.available and row.candidate.startswith("StyleSpace synthesis.") and 0 < row.alpha <= 30
    assert row.inside_change == pytest.approx(0.2, rel=0.5) and row.roir_mean > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="methods must be a non-empty subset"):
        table2(methods=("LowRankGan",), **TINY)
    with pytest.raises(TypeError, match="lowrankgan_options must map"):
        table2(**{**TINY, "lowrankgan_options": ["max_iter"]})
    with pytest.raises(ValueError, match=r"got \['Sefa'\]; did you mean 'SeFa'\?"):
        table2(methods=("Sefa",), **TINY)
    with pytest.raises(ValueError, match="regions must be a non-empty subset"):
        table2(regions=("ears",), **TINY)
    with pytest.raises(ValueError, match=r"n_eval must be an int in \[2, inf\]; got 1"):
        table2(**{**TINY, "n_eval": 1})


def test_cli_is_registered_and_parses():
    parser = cli.build_parser()
    args = parser.parse_args(["table2", "--n-eval", "20", "--out", "somewhere", "--lowrankgan-samples", "3"])
    assert args._run is table2_command.run and args.n_eval == 20 and str(args.out) == "somewhere"
    assert args.lowrankgan_samples == 3 and args.stylespace_samples == 32
