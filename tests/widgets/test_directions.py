"""DirectionsPanel: the baselines' latent directions, driven as a browser would, on the real generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testdata import data_folder

import panda_viz
from panda_viz.baselines import (
    apply_direction,
    edit_styles,
    lowrankgan,
    resefa,
    sefa,
    stylespace,
)
from panda_viz.imaging import render
from panda_viz.metrics import roir
from panda_viz.widgets import DirectionsPanel, RoiPainter

SEED = 2


@pytest.fixture()
def panel(dcgan):
    return DirectionsPanel(dcgan, seed=SEED, ganspace_samples=256)


@pytest.fixture(scope="module")
def stylegan2_z():
    folder = data_folder("stylegan2")
    return panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json")


def _image(dcgan, latents):
    return render.to_uint8(dcgan.synthesize(latents))[0]


def test_alpha_zero_shows_exactly_the_original(panel, dcgan):
    original = _image(dcgan, dcgan.sample_latents(1, seed=SEED))
    assert np.array_equal(panel.original.array, original)
    assert np.array_equal(panel.edited.array, original)
    panel.alpha.set_state({"value": 3.0})
    assert not np.array_equal(panel.edited.array, original)
    panel.alpha.set_state({"value": 0.0})
    assert np.array_equal(panel.edited.array, original)


def test_a_sefa_step_is_apply_direction_along_sefa(panel, dcgan):
    panel.direction.set_state({"index": 2})
    panel.alpha.set_state({"value": -2.5})
    z = dcgan.sample_latents(1, seed=SEED)
    expected = _image(dcgan, apply_direction(z, sefa(dcgan, k=10)[2], -2.5))
    assert panel.direction.value == 2
    assert np.array_equal(panel.edited.array, expected)
    assert panel.readout.value == ""  # no painted region, no ROIR
    assert panel.log_area.last_error is None


def test_gans_space_directions_are_offered_after_a_switch(panel):
    panel.method.set_state({"index": 1})
    assert panel.method.value == "GANSpace"
    assert len(panel.direction.options) == 10 and panel.direction.value == 0
    panel.set_alpha(2.0)
    assert not np.array_equal(panel.edited.array, panel.original.array)
    assert panel.log_area.last_error is None


def test_region_methods_without_a_region_say_so_in_the_log(panel):
    assert panel.method.options == ("SeFa", "GANSpace", "LowRankGAN", "ReSeFa")  # no StyleSpace: no style space
    panel.method.set_state({"index": 2})
    assert "LowRankGAN needs a region: paint one" in panel.log_area.last_error
    panel.method.set_state({"index": 3})
    assert "ReSeFa needs a region: paint one" in panel.log_area.last_error


@pytest.mark.filterwarnings("ignore::panda_viz.exceptions.ConvergenceWarning")
def test_lowrankgan_follows_the_painted_region(dcgan):
    roi = RoiPainter(size=(64, 64))
    options = {"max_iter": 40}  # a short Robust PCA: the panel's wiring, not the official directions
    panel = DirectionsPanel(dcgan, seed=SEED, roi=roi, lowrankgan_options=options)
    mask = np.zeros((64, 64), np.float32)
    mask[40:56, 18:46] = 1  # the mouth
    roi.set_mask(mask)
    panel.set_method("LowRankGAN")
    panel.set_alpha(3.0)
    z = dcgan.sample_latents(1, seed=SEED)
    result = lowrankgan(dcgan, z, torch.from_numpy(mask), **options)
    assert len(panel.direction.options) == min(10, len(result))
    expected = _image(dcgan, apply_direction(z, result[0], 3.0))
    assert np.array_equal(panel.edited.array, expected)
    assert "<b>" in panel.readout.value and panel.log_area.last_error is None


def test_stylespace_channels_of_the_painted_region_on_a_style_generator(stylegan2_z):
    G = stylegan2_z
    roi = RoiPainter(size=(32, 32))
    panel = DirectionsPanel(G, seed=1, roi=roi, stylespace_samples=2, ganspace_samples=64)
    assert panel.method.options[-1] == "StyleSpace"
    mask = np.zeros((32, 32), np.float32)
    mask[20:28, 10:22] = 1
    roi.set_mask(mask)
    panel.set_method("StyleSpace")
    channels = stylespace(G, G.sample_latents(2, seed=0), {"painted": torch.from_numpy(mask)}, progress=False)
    top = channels.top("painted", 10, threshold=0.0)
    assert [label for label, _ in panel.direction.options] == [f"{l} channel {c} (score {s:.2f})" for l, c, s in top]
    panel.set_direction(1)
    panel.set_alpha(4.0)  # in units of the channel's σ
    z = G.sample_latents(1, seed=1)
    layer, c, _ = top[1]
    expected = render.to_uint8(edit_styles(G, z, [(layer, c, 4.0)], sigma=channels))[0]
    assert np.array_equal(panel.edited.array, expected)
    assert not np.array_equal(panel.edited.array, panel.original.array)
    assert panel.log_area.last_error is None


def test_stylespace_is_refused_on_the_dcgan(panel):
    with pytest.raises(ValueError, match="StyleSpace needs a style-based generator"):
        panel.set_method("StyleSpace")


def test_resefa_follows_the_painted_region_and_reports_its_roir(dcgan):
    roi = RoiPainter(size=(64, 64))
    panel = DirectionsPanel(dcgan, seed=SEED, roi=roi)
    mask = np.zeros((64, 64), np.float32)
    mask[40:56, 18:46] = 1  # the mouth
    roi.set_mask(mask)
    panel.set_method("ReSeFa")
    panel.set_alpha(3.0)
    z = dcgan.sample_latents(1, seed=SEED)
    direction = resefa(dcgan, z, torch.from_numpy(mask), k=10)[0]
    expected = _image(dcgan, apply_direction(z, direction, 3.0))
    assert np.array_equal(panel.edited.array, expected)
    to_tensor = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].float() / 127.5 - 1  # noqa: E731
    value = roir(to_tensor(panel.original.array), to_tensor(expected), torch.from_numpy(mask)).mean
    assert f"<b>{value:.2f}</b>" in panel.readout.value
    # another region: new directions for it
    before = panel.directions()
    mask2 = np.zeros((64, 64), np.float32)
    mask2[20:32, 12:52] = 1  # the eyes
    roi.set_mask(mask2)
    assert panel.directions() is not before
    assert not torch.equal(panel.directions().directions, before.directions)


def test_bad_input(panel):
    with pytest.raises(ValueError, match=r"Invalid method: got 'PCA' instead of one of \{'SeFa', 'GANSpace', 'LowRankGAN', 'ReSeFa'\}"):
        panel.set_method("PCA")
    with pytest.raises(ValueError, match=r"direction \(10 directions are offered\) must be an int in \[0, 9\]; got 10"):
        panel.set_direction(10)
