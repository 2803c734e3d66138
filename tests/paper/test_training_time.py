"""Table 1's timings: the work table2 does, timed on the real generators (properties, not speeds)."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
from testdata import data_folder

import panda_viz
from panda_viz.exceptions import ConvergenceWarning, InvalidIndexError, InvalidInputError, InvalidTypeError
from panda_viz.generators.styles import style_layers
from panda_viz.paper.regions import face_masks
from panda_viz.paper.training_time import (
    FFHQ_STYLEGAN2,
    stylegan2_style_channels,
    stylespace_estimate,
    stylespace_training_time,
    table2_training_times,
)


def test_style_channel_count_matches_the_network_and_ffhq():
    assert stylegan2_style_channels(**FFHQ_STYLEGAN2) == 6048  # StyleSpace's 9,088 less 3,040 ToRGB channels
    folder = data_folder("stylegan2")
    G = panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json")
    kwargs = json.loads((folder / "config.json").read_text())["init_kwargs"]
    assert stylegan2_style_channels(kwargs["img_resolution"], kwargs["channel_base"], kwargs["channel_max"]) \
        == sum(style_layers(G).values())
    with pytest.raises(InvalidInputError, match="power of two"):
        stylegan2_style_channels(100, 32768, 512)


def test_estimate_is_counts_times_the_unit_and_says_it_is_a_lower_bound():
    est = stylespace_estimate(0.01, n_images=1000)
    assert est.style_channels == 6048 and est.n_images == 1000
    assert math.isclose(est.minutes, 0.01 * 6048 * 1000 / 60)
    assert "estimate, not a measurement" in est.label and "lower bound" in est.label
    with pytest.raises(InvalidInputError, match="n_images"):
        stylespace_estimate(0.01, n_images=0)


def test_table2_work_timed_side_by_side(dcgan):
    masks = {r: m for r, m in face_masks(size=64).items() if r in ("mouth",)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a short Robust PCA: properties, not the official cost
        times = table2_training_times(dcgan, masks, fit_samples=32, n_parts=4, ganspace_samples=120, resefa_samples=1,
                                      lowrankgan_samples=1, n_select=2, n_candidates=2,
                                      lowrankgan_options={"max_iter": 30})
    assert [t.method for t in times.timings] == ["PandA", "SeFa", "GANSpace", "ReSeFa", "LowRankGAN"]
    for t in times.timings:
        assert t.seconds > 0 and t.generator == dcgan.name
        assert math.isclose(t.seconds, t.shared_seconds + sum(t.per_region.values()))
    assert list(times.timing("LowRankGAN").per_region) == ["mouth"] and not times.timing("SeFa").per_region
    assert times.ratio("LowRankGAN") == times.timing("PandA").seconds / times.timing("LowRankGAN").seconds
    rows = times.rows()
    assert rows[0]["panda_ratio"] is None and rows[-1]["paper_minutes"] == 392.97
    assert times.settings["lowrankgan_options"] == {"max_iter": 30}
    with pytest.raises(InvalidIndexError, match="no timing for method 'StyleSpace'"):
        times.timing("StyleSpace")


def test_bad_input_is_refused_before_any_work(dcgan):
    with pytest.raises(InvalidInputError, match="mask 'eyes' must have the image's shape"):
        table2_training_times(dcgan, {"eyes": torch.ones(8, 8)})
    with pytest.raises(InvalidTypeError, match="lowrankgan_options"):
        table2_training_times(dcgan, face_masks(size=64), lowrankgan_options=[("max_iter", 3)])
    with pytest.raises(InvalidTypeError, match="style"):
        stylespace_training_time(dcgan, face_masks(size=64), n_images=1)


def test_stylespace_beside_panda_on_a_style_generator():
    folder = data_folder("stylegan2")
    G = panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json")
    times = stylespace_training_time(G, face_masks(size=32), n_images=1, panda_layer="synthesis.b16",
                                     fit_samples=16, n_parts=2)
    assert [t.method for t in times.timings] == ["PandA", "StyleSpace"]
    s = times.settings
    assert s["style_channels"] == 448 and s["n_images"] == 1
    assert math.isclose(s["seconds_per_unit"], times.timing("StyleSpace").seconds / 448)
