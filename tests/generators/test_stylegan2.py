"""StyleGAN2 in plain PyTorch against what NVlabs' own code computed (tests/data/stylegan2)."""

from __future__ import annotations

import inspect
import json

import pytest
import torch
import torch.nn.functional as F
from nvlabs_pickle_writer import write_network_pickle
from testdata import data_folder

import panda_viz
from panda_viz.exceptions import InvalidTypeError
from panda_viz.generators import hooks
from panda_viz.generators.nvlabs._ops import binomial_filter, conv2d_up2, upfirdn2d
from panda_viz.generators.nvlabs.loader import (
    GENERATOR_OPTIONS,
    load_nvlabs_pickle,
    load_nvlabs_state_dict,
    nvlabs_generator,
)
from panda_viz.generators.nvlabs.network_pickle import NetworkPickleError
from panda_viz.generators.nvlabs.stylegan2 import StyleGAN2

VECTORS = data_folder("stylegan2")
BLOCKS = ["b4", "b8", "b16", "b32"]
ATOL = 1e-4


@pytest.fixture(scope="module")
def config():
    return json.loads((VECTORS / "config.json").read_text())


@pytest.fixture(scope="module")
def state_dict():
    return torch.load(VECTORS / "G_ema_state_dict.pt", weights_only=True)


@pytest.fixture(scope="module")
def vectors():
    return torch.load(VECTORS / "vectors.pt", weights_only=True)


@pytest.fixture(scope="module")
def G(config):
    return panda_viz.load_generator(VECTORS / "G_ema_state_dict.pt", config=VECTORS / "config.json")


def test_state_dict_names_are_the_official_ones(config, state_dict):
    module = StyleGAN2(**config["init_kwargs"])
    assert list(module.state_dict()) == list(state_dict)
    assert all(module.state_dict()[k].shape == v.shape for k, v in state_dict.items())


@pytest.mark.parametrize("psi", ["1", "0.7"])
def test_mapping_and_images_match_the_reference(G, vectors, psi):
    with torch.no_grad():
        ws = G.module.mapping(vectors["z"], None, truncation_psi=float(psi))
    torch.testing.assert_close(ws, vectors[f"ws_psi{psi}"], atol=1e-6, rtol=0)
    Gpsi = nvlabs_generator(G.module, truncation_psi=float(psi))
    images = Gpsi.synthesize(vectors["z"])
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.float32
    torch.testing.assert_close(images, vectors[f"img_psi{psi}"], atol=ATOL, rtol=0)


def test_block_features_match_the_reference(G, vectors):
    assert [n for n in G.layers if n.count(".") == 1] == [f"synthesis.{b}" for b in BLOCKS]
    for block in BLOCKS:  # the stored feature records hold the first sample
        features = G.features(vectors["z"][:1], f"synthesis.{block}")
        torch.testing.assert_close(features, vectors[f"features_psi1/{block}"], atol=ATOL, rtol=0)


def test_synthesize_from_recorded_features_reproduces_the_image(G, vectors):
    images = G.synthesize_from("synthesis.b16", vectors["features_psi1/b16"], vectors["z"][:1])
    torch.testing.assert_close(images, vectors["img_psi1"][:1], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="reads the latent after layer 'synthesis.b16'"):
        G.synthesize_from("synthesis.b16", vectors["features_psi1/b16"])


def test_edits_act_on_the_block_output_and_leave_no_hooks(G, vectors):
    z = vectors["z"]
    plain = G.synthesize(z)
    assert torch.equal(G.synthesize(z, edits={"synthesis.b16": torch.zeros(64, 16, 16)}), plain)
    delta = torch.zeros(64, 16, 16)
    delta[:, 4:8, 4:8] = 5.0
    edited = G.synthesize(z, edits={"synthesis.b16": delta})
    assert not torch.allclose(edited, plain, atol=1e-3)
    assert all(not m._forward_hooks for m in G.module.modules())
    # the edit is the same as replacing the block's output with features + delta (first sample)
    expected = G.synthesize_from("synthesis.b16", vectors["features_psi1/b16"] + delta, z[:1])
    torch.testing.assert_close(edited[:1], expected, atol=ATOL, rtol=0)


def test_latent_spaces_give_the_same_images_for_a_seed(G):
    z_space = nvlabs_generator(G.module, truncation_psi=0.7)
    w_space = nvlabs_generator(G.module, truncation_psi=0.7, latent_space="w")
    wplus = nvlabs_generator(G.module, truncation_psi=0.7, latent_space="w+")
    z = z_space.sample_latents(3, seed=5)
    w = w_space.sample_latents(3, seed=5)
    ws = wplus.sample_latents(3, seed=5)
    assert z.shape == (3, 64) and w.shape == (3, 64) and ws.shape == (3, 8, 64)
    reference = z_space.synthesize(z)
    torch.testing.assert_close(w_space.synthesize(w), reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(wplus.synthesize(ws), reference, atol=1e-5, rtol=0)
    assert w_space.layers["synthesis.b8"] == (64, 8, 8)


def test_truncation_cutoff_truncates_only_the_first_ws(G, vectors):
    wplus = nvlabs_generator(G.module, truncation_psi=0.5, truncation_cutoff=3, latent_space="w+")
    ws = wplus.sample_latents(2, seed=0)
    raw = nvlabs_generator(G.module, latent_space="w+").sample_latents(2, seed=0)
    w_avg = G.module.mapping.w_avg
    torch.testing.assert_close(ws[:, :3], w_avg.lerp(raw[:, :3], 0.5))
    torch.testing.assert_close(ws[:, 3:], raw[:, 3:])


def test_noise_modes(G, vectors):
    z = vectors["z"][:1]
    const = G.synthesize(z)
    random = nvlabs_generator(G.module, noise_mode="random")
    none = nvlabs_generator(G.module, noise_mode="none")
    assert not torch.allclose(random.synthesize(z), random.synthesize(z))
    assert not torch.allclose(none.synthesize(z), const, atol=1e-4)
    assert torch.equal(G.synthesize(z), const)


def test_invalid_options_are_rejected(G):
    with pytest.raises(ValueError, match=r"Invalid latent_space: got 'x'"):
        nvlabs_generator(G.module, latent_space="x")
    with pytest.raises(ValueError, match=r"Invalid noise_mode: got 'fixed'"):
        nvlabs_generator(G.module, noise_mode="fixed")
    with pytest.raises(ValueError, match=r"truncation_cutoff must be an int in \[0, 8\]"):
        nvlabs_generator(G.module, truncation_cutoff=9)
    with pytest.raises(ValueError, match="a single w cannot hold"):
        nvlabs_generator(G.module, truncation_cutoff=2, latent_space="w")
    with pytest.raises(ValueError, match="unconditional"):
        nvlabs_generator(G.module, class_index=1)
    with pytest.raises(ValueError, match=r"latents of shape \(N, 64\) expected"):
        G.synthesize(torch.zeros(2, 8, 64))


def test_loader_options_are_nvlabs_generators_keywords_with_its_defaults():
    keywords = {
        name: p.default for name, p in inspect.signature(nvlabs_generator).parameters.items() if p.kind is p.KEYWORD_ONLY
    }
    assert keywords == GENERATOR_OPTIONS


@pytest.mark.parametrize("loader", [load_nvlabs_pickle, load_nvlabs_state_dict])
def test_loaders_refuse_bad_options_before_reading_the_file(tmp_path, loader):
    missing = tmp_path / "never_read.pkl"  # does not exist: an option error must come first
    own = {"config": {}} if loader is load_nvlabs_state_dict else {"network": "G_ema"}
    with pytest.raises(InvalidTypeError, match=rf"{loader.__name__}: unexpected options \['truncation'\]; did you mean 'truncation_psi'[^?]*\? Accepted: truncation_psi"):
        loader(missing, truncation=0.7, **own)
    with pytest.raises(ValueError, match="Invalid latent_space: got 'x'"):
        loader(missing, latent_space="x", **own)


def test_state_dict_loader_passes_its_options_on(config, vectors):
    G = panda_viz.load_generator(
        VECTORS / "G_ema_state_dict.pt", config=VECTORS / "config.json", truncation_psi=0.7, name="mine", latent_space="w+"
    )
    assert (G.name, G.truncation_psi, G.latent_space, G.latent_shape) == ("mine", 0.7, "w+", (8, 64))


def test_state_dict_loader_declines_without_config_and_checks_shapes(tmp_path, config):
    with pytest.raises(ValueError, match="matches no known checkpoint format.*need config="):
        panda_viz.load_generator(VECTORS / "G_ema_state_dict.pt")
    wrong = dict(config["init_kwargs"], channel_max=32)
    with pytest.raises(NetworkPickleError, match=r"wrong shape .*synthesis\.b4\.const \(64, 4, 4\) \(expected \(32, 4, 4\)\)"):
        panda_viz.load_generator(VECTORS / "G_ema_state_dict.pt", config=wrong)
    with pytest.raises(NetworkPickleError, match="not supported here.*mystery_option"):
        panda_viz.load_generator(VECTORS / "G_ema_state_dict.pt", config=dict(config["init_kwargs"], mystery_option=1))
    other = tmp_path / "other.pt"
    torch.save({"layer.weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not an NVlabs G_ema state dict"):
        panda_viz.load_generator(other, config=config["init_kwargs"])


@pytest.mark.parametrize("protocol", [3, 4])
def test_official_format_pickle_reproduces_the_reference(tmp_path, G, config, vectors, protocol):
    marker = tmp_path / "module_src_ran"
    path = write_network_pickle(tmp_path / "network.pkl", G.module, config["init_kwargs"], marker=marker, protocol=protocol)
    loaded = panda_viz.load_generator(path, truncation_psi=0.7)
    assert loaded.name == "network" and loaded.downstream_needs_latents
    torch.testing.assert_close(loaded.synthesize(vectors["z"]), vectors["img_psi0.7"], atol=ATOL, rtol=0)
    torch.testing.assert_close(
        loaded.module.mapping.w_avg, torch.load(VECTORS / "G_ema_state_dict.pt", weights_only=True)["mapping.w_avg"]
    )
    assert not marker.exists()  # the embedded module source never ran


def test_ada_style_synthesis_kwargs_are_accepted(config, state_dict):
    kwargs = dict(config["init_kwargs"])
    synthesis = {k: kwargs.pop(k) for k in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp")}
    module = StyleGAN2(**kwargs, synthesis_kwargs=synthesis)
    module.load_state_dict(state_dict)
    assert module.num_ws == 8
    # an option given both ways: the direct keyword wins
    both = StyleGAN2(**kwargs, synthesis_kwargs=synthesis, channel_max=synthesis["channel_max"] // 2)
    assert both.synthesis.b4.const.shape[0] == synthesis["channel_max"] // 2


def test_class_conditional_generator_needs_a_class(config):
    module = StyleGAN2(**dict(config["init_kwargs"], c_dim=3)).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in module.mapping.parameters():
            parameter.normal_(generator=generator)
    with pytest.raises(ValueError, match=r"class-conditional with 3 classes: pass class_index="):
        nvlabs_generator(module)
    a = nvlabs_generator(module, class_index=0, latent_space="w").sample_latents(1, seed=0)
    b = nvlabs_generator(module, class_index=2, latent_space="w").sample_latents(1, seed=0)
    assert not torch.allclose(a, b)


def test_upsampling_convolution_is_zero_insertion_then_filter_then_convolution():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 5, generator=g)
    w = torch.randn(4, 3, 3, 3, generator=g)
    f = binomial_filter()
    got = conv2d_up2(x, w, f, padding=1)
    # definition: upsample ×2 with f (zero insertion, gain 4, padding 3/2 as the official
    # code pads a 3×3 kernel), then a true convolution with w (flipped correlation)
    up = upfirdn2d(x, f, up=2, padding=(3, 2, 3, 2), gain=4)
    expected = F.conv2d(up, w.flip([2, 3]))
    assert got.shape == (2, 4, 10, 10)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_hooks_capture_block_outputs_not_images(G, vectors):
    with torch.no_grad(), hooks.capture(G.module, ["synthesis.b32", "synthesis.b32.torgb"]) as captured:
        G.module.synthesis(vectors["ws_psi1"])
    assert captured["synthesis.b32"].shape == (2, 64, 32, 32)
    assert captured["synthesis.b32.torgb"].shape == (2, 3, 32, 32)


@pytest.mark.filterwarnings("ignore::panda_viz.exceptions.ConvergenceWarning")  # 30 iterations suffice here
def test_panda_fits_and_edits_a_stylegan2_block_unchanged(G):
    from panda_viz.decomposition import fit_generator
    from panda_viz.editing.edits import local_edit

    model = fit_generator(G, "synthesis.b8", n_samples=24, seed=0, n_parts=3, max_iter=30, random_state=0)
    assert model.parts_.shape == (3, 8, 8) and bool((model.parts_ >= 0).all())
    z = G.sample_latents(2, seed=9)
    delta = local_edit(model, (0, 0, 20.0))
    assert delta.shape == (64, 8, 8)
    plain, edited = G.synthesize(z), G.synthesize(z, edits={"synthesis.b8": delta})
    changed = (edited - plain).abs().mean(dim=(0, 1))  # (32, 32)
    assert changed.max() > 1e-3
    # the edit is concentrated where part 0 is: more change inside its (upsampled) support
    support = torch.nn.functional.interpolate(model.parts_[None, :1], size=(32, 32), mode="nearest")[0, 0]
    inside = changed[support >= support.median()].mean()
    outside = changed[support < support.median()].mean()
    assert inside > outside
