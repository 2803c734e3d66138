"""StyleGAN3-T and -R in plain PyTorch against what NVlabs' own code computed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from nvlabs_pickle_writer import write_network_pickle
from testdata import data_folder

import panda_viz
from panda_viz.generators import hooks
from panda_viz.generators.nvlabs._ops import lowpass_filter
from panda_viz.generators.nvlabs.loader import nvlabs_generator
from panda_viz.generators.nvlabs.stylegan3 import StyleGAN3

CONFIGS = ["stylegan3-t", "stylegan3-r"]
ATOL = 1e-4


class Reference:
    def __init__(self, name: str) -> None:
        folder = data_folder(name)
        self.folder = folder
        self.config = json.loads((folder / "config.json").read_text())
        self.state_dict = torch.load(folder / "G_ema_state_dict.pt", weights_only=True)
        self.vectors = torch.load(folder / "vectors.pt", weights_only=True)
        self.layers = self.config["hooked_layers"]
        # tests/data keeps the records (first sample) of a few layers: see tests/data/README.md
        self.recorded = [n for n in self.layers if f"features_psi1/{n}" in self.vectors]
        self.G = panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json")


@pytest.fixture(scope="module", params=CONFIGS)
def ref(request):
    return Reference(request.param)


def test_state_dict_names_and_designed_filters_are_the_official_ones(ref):
    module = StyleGAN3(**ref.config["init_kwargs"])
    designed = module.state_dict()
    assert list(designed) == list(ref.state_dict)
    for key, stored in ref.state_dict.items():
        assert designed[key].shape == stored.shape, key
        if key.endswith("_filter"):  # the filter design reproduces the stored filters
            torch.testing.assert_close(designed[key], stored, atol=1e-6, rtol=0)
    radial = [k for k, v in ref.state_dict.items() if k.endswith("down_filter") and v.ndim == 2]
    assert bool(radial) == ref.config["init_kwargs"].get("use_radial_filters", False)


@pytest.mark.parametrize("psi", ["1", "0.7"])
def test_mapping_and_images_match_the_reference(ref, psi):
    with torch.no_grad():
        ws = ref.G.module.mapping(ref.vectors["z"], None, truncation_psi=float(psi))
    torch.testing.assert_close(ws, ref.vectors[f"ws_psi{psi}"], atol=1e-6, rtol=0)
    images = nvlabs_generator(ref.G.module, truncation_psi=float(psi)).synthesize(ref.vectors["z"])
    assert images.shape == (2, 3, 32, 32)
    torch.testing.assert_close(images, ref.vectors[f"img_psi{psi}"], atol=ATOL, rtol=0)


def test_layer_features_match_the_reference(ref):
    layers = ref.G.layers
    assert [n for n in layers if n.startswith("synthesis.L")] == [f"synthesis.{n}" for n in ref.layers]
    assert "synthesis.input" in layers
    for name in ref.layers:  # L<index>_<size>_<channels>: the official names encode the shape
        _, size, channels = name.split("_")
        assert layers[f"synthesis.{name}"] == (int(channels), int(size), int(size)), name
    # the first-sample records kept: at least the layer synthesize_from starts at, and the last
    assert {ref.layers[2], ref.layers[-1]} <= set(ref.recorded)
    # every layer in one hooked pass, and through G.features (which stops the pass)
    with torch.no_grad(), hooks.capture(ref.G.module, [f"synthesis.{n}" for n in ref.layers]) as captured:
        ref.G.module.synthesis(ref.vectors["ws_psi1"])
    for name in ref.layers:
        assert captured[f"synthesis.{name}"].shape == (2, *layers[f"synthesis.{name}"])
    for name in ref.recorded:
        expected = ref.vectors[f"features_psi1/{name}"]
        torch.testing.assert_close(captured[f"synthesis.{name}"][:1], expected, atol=ATOL, rtol=0)
        torch.testing.assert_close(ref.G.features(ref.vectors["z"][:1], f"synthesis.{name}"), expected, atol=ATOL, rtol=0)


def test_synthesize_from_a_middle_layer_reproduces_the_image(ref):
    name = ref.layers[2]  # L2_52_*: a layer with margins, upsampled lrelu and a new sampling rate
    features = ref.vectors[f"features_psi1/{name}"]  # the first sample's
    images = ref.G.synthesize_from(f"synthesis.{name}", features, ref.vectors["z"][:1])
    torch.testing.assert_close(images, ref.vectors["img_psi1"][:1], atol=ATOL, rtol=0)
    delta = torch.zeros(features.shape[1:])
    delta[:, 20:30, 20:30] = 2.0
    edited = ref.G.synthesize(ref.vectors["z"], edits={f"synthesis.{name}": delta})
    assert not torch.allclose(edited, ref.vectors["img_psi1"], atol=1e-3)


def test_official_format_pickle_reproduces_the_reference(ref, tmp_path):
    marker = tmp_path / "module_src_ran"
    path = write_network_pickle(tmp_path / f"{ref.folder.name}.pkl", ref.G.module, ref.config["init_kwargs"], marker=marker)
    G = panda_viz.load_generator(path, truncation_psi=0.7, latent_space="w+")
    ws = G.sample_latents(2, seed=0)
    assert ws.shape == (2, 8, 64)
    torch.testing.assert_close(
        G.synthesize(ref.vectors["ws_psi0.7"]), ref.vectors["img_psi0.7"], atol=ATOL, rtol=0
    )
    Gz = panda_viz.load_generator(path, truncation_psi=0.7)
    torch.testing.assert_close(Gz.synthesize(ref.vectors["z"]), ref.vectors["img_psi0.7"], atol=ATOL, rtol=0)
    assert not marker.exists()


def test_separable_lowpass_design_matches_scipy_firwin():
    signal = pytest.importorskip("scipy.signal")
    for numtaps, cutoff, width, fs in [(12, 2.0, 6.36, 32), (24, 4.3, 5.1, 64), (18, 9.5, 3.2, 96)]:
        expected = signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        np.testing.assert_allclose(lowpass_filter(numtaps, cutoff, width, fs).numpy(), expected, atol=1e-7)
    assert lowpass_filter(1, 2.0, 1.0, 16) is None
