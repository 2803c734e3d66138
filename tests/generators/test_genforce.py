"""genforce PGGAN / StyleGAN / StyleGAN2 checkpoints against what genforce's own classes computed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from testdata import data_folder

import panda_viz
from panda_viz.generators import NotThisFormat
from panda_viz.generators.genforce.loader import (
    detect_architecture,
    load_genforce,
    official_layer_name,
)
from panda_viz.generators.genforce.pggan import PGGANConvBlock
from panda_viz.generators.genforce.stylegan import StyleGANConvBlock

ARCHS = ["pggan", "stylegan", "stylegan2"]


def folder(arch: str) -> Path:
    return data_folder(f"genforce-{arch}")


@pytest.fixture(scope="module")
def vectors():
    return {arch: torch.load(folder(arch) / "vectors.pt", weights_only=True) for arch in ARCHS}


@pytest.fixture(scope="module")
def generators():
    return {arch: panda_viz.load_generator(folder(arch) / "checkpoint.pth") for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_image_matches_genforce(arch, generators, vectors):
    G, v = generators[arch], vectors[arch]
    assert G.module.architecture == arch and G.module.resolution == 32
    assert G.latent_shape == (64,)
    assert G.downstream_needs_latents == (arch != "pggan")
    torch.testing.assert_close(G.synthesize(v["z"]), v["img_psi1"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_layers_named_and_shaped_as_genforce(arch, generators, vectors):
    G, v = generators[arch], vectors[arch]
    hooked = json.loads((folder(arch) / "config.json").read_text())["hooked_layers"]
    layers = G.layers
    for name in hooked:
        assert layers[name] == tuple(v[f"features_psi1/{name}"].shape[1:])
    # the parameter holders (style, noise, blur, filter) never run, so they are not layers
    assert not [n for n in layers if n.endswith((".style", ".apply_noise", ".blur", ".filter", ".upsample"))]


@pytest.mark.parametrize("arch", ARCHS)
def test_features_and_synthesize_from_reproduce_genforce(arch, generators, vectors):
    G, v = generators[arch], vectors[arch]
    z = v["z"][:1]  # the stored feature records hold the first sample
    hooked = json.loads((folder(arch) / "config.json").read_text())["hooked_layers"]
    assert [k for k in v if k.startswith("features_psi1/")] == [f"features_psi1/{name}" for name in hooked]
    for layer in hooked:
        key = f"features_psi1/{layer}"
        torch.testing.assert_close(G.features(z, layer), v[key], atol=1e-4, rtol=0)
        torch.testing.assert_close(G.synthesize_from(layer, v[key], z), v["img_psi1"][:1], atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ["stylegan", "stylegan2"])
def test_truncation_matches_genforce(arch, vectors):
    v = vectors[arch]
    G = panda_viz.load_generator(folder(arch) / "checkpoint.pth", truncation_psi=0.7, truncation_layers=8)
    torch.testing.assert_close(G.synthesize(v["z"]), v["img_psi0.7_layers8"], atol=1e-4, rtol=0)
    wp = G.module.mapping_and_truncation(v["z"], 0.7, 8)
    torch.testing.assert_close(wp, v["wp_psi0.7_layers8"], atol=1e-5, rtol=0)
    torch.testing.assert_close(G.module.mapping_and_truncation(v["z"]), v["wp_psi1"], atol=1e-5, rtol=0)


def test_style_based_synthesize_from_needs_latents(generators, vectors):
    G = generators["stylegan2"]
    features = vectors["stylegan2"]["features_psi1/synthesis.layer2"]
    with pytest.raises(ValueError, match="pass the latents"):
        G.synthesize_from("synthesis.layer2", features)


def test_randomize_noise_changes_the_image_stored_noise_does_not(vectors):
    z = vectors["stylegan2"]["z"]
    G = panda_viz.load_generator(folder("stylegan2") / "checkpoint.pth", randomize_noise=True)
    assert not torch.allclose(G.synthesize(z), G.synthesize(z))
    G = panda_viz.load_generator(folder("stylegan2") / "checkpoint.pth")
    torch.testing.assert_close(G.synthesize(z), G.synthesize(z), atol=0, rtol=0)


def test_generator_smooth_preferred_and_generator_alone_accepted(tmp_path, vectors):
    ckpt = torch.load(folder("stylegan") / "checkpoint.pth", weights_only=True)
    smooth = ckpt["generator_smooth"]
    noisy = {k: t + 0.5 if t.is_floating_point() and t.ndim else t for k, t in smooth.items()}
    v = vectors["stylegan"]
    torch.save({"generator": noisy, "generator_smooth": smooth}, tmp_path / "both.pth")
    G = panda_viz.load_generator(tmp_path / "both.pth")
    torch.testing.assert_close(G.synthesize(v["z"]), v["img_psi1"], atol=1e-4, rtol=0)
    torch.save({"generator": smooth}, tmp_path / "only.pt")  # .pt too, and a non-smooth file
    G = panda_viz.load_generator(tmp_path / "only.pt")
    torch.testing.assert_close(G.synthesize(v["z"]), v["img_psi1"], atol=1e-4, rtol=0)
    torch.save(smooth, tmp_path / "bare.pth")  # a bare generator state dict
    assert panda_viz.load_generator(tmp_path / "bare.pth").name == "bare"


@pytest.mark.parametrize(("arch", "asked"), [("stylegan", "stylegan2"), ("stylegan2", "pggan"), ("pggan", "stylegan")])
def test_other_architecture_than_asked_is_named(arch, asked):
    with pytest.raises(ValueError, match=f"holds a genforce {arch} generator.*not the {asked} asked for"):
        panda_viz.load_generator(folder(arch) / "checkpoint.pth", architecture=asked)


def test_bad_options():
    path = folder("stylegan2") / "checkpoint.pth"
    with pytest.raises(ValueError, match="Invalid architecture: got 'stylegan3'"):
        panda_viz.load_generator(path, architecture="stylegan3")
    with pytest.raises(ValueError, match=r"holds a 32×32 genforce stylegan2 generator, not the 1024×1024"):
        panda_viz.load_generator(path, resolution=1024)
    with pytest.raises(ValueError, match=r"truncation_layers must be an int in \[0, inf\]; got -1"):
        panda_viz.load_generator(path, truncation_layers=-1)
    with pytest.raises(ValueError, match="fused_scale= applies to PGGAN and StyleGAN"):
        panda_viz.load_generator(path, fused_scale=True)
    with pytest.raises(TypeError, match="unexpected options for a genforce checkpoint: colour"):
        panda_viz.load_generator(path, colour="red")


def test_not_a_genforce_file_declines(tmp_path):
    torch.save({"mapping.fc0.weight": torch.zeros(2, 2), "synthesis.b4.const": torch.zeros(1)}, tmp_path / "nv.pth")
    with pytest.raises(NotThisFormat, match="not a genforce checkpoint"):
        load_genforce(tmp_path / "nv.pth")
    with pytest.raises(NotThisFormat, match="config= is for NVlabs"):
        load_genforce(folder("stylegan2") / "checkpoint.pth", config={})
    with pytest.raises(ValueError, match="matches no known checkpoint format"):
        panda_viz.load_generator(tmp_path / "nv.pth")


def test_mid_growing_checkpoint_refused(tmp_path):
    sd = torch.load(folder("pggan") / "checkpoint.pth", weights_only=True)["generator_smooth"]
    sd["lod"] = torch.tensor(1.5)
    torch.save({"generator_smooth": sd}, tmp_path / "growing.pth")
    with pytest.raises(ValueError, match=r"lod = 1.5 \(saved during progressive growing\)"):
        panda_viz.load_generator(tmp_path / "growing.pth")


def test_detect_architecture():
    for arch in ARCHS:
        sd = torch.load(folder(arch) / "checkpoint.pth", weights_only=True)["generator"]
        assert detect_architecture(sd) == arch
    assert detect_architecture({"main.0.weight": torch.zeros(1)}) is None


def test_official_layer_counting(generators):
    # official StyleGAN2 layer L is the output of synthesis.layer{L-1}
    assert official_layer_name("stylegan2", 5) == "synthesis.layer4"
    assert official_layer_name("stylegan2", 7) == "synthesis.layer6"
    # StyleGAN / PGGAN: the loop stops before resolution 2**L, after (synthesis.)layer{2L-5}
    assert official_layer_name("stylegan", 5) == "synthesis.layer5"
    assert official_layer_name("pggan", 3) == "layer1"
    # the resolution of official layer L is 2**(L-1) for StyleGAN / PGGAN
    for arch in ("pggan", "stylegan"):
        for L in (3, 4, 5, 6):
            assert generators[arch].layers[official_layer_name(arch, L)][1] == 2 ** (L - 1)
    with pytest.raises(ValueError, match="official StyleGAN2 layers start at 1"):
        official_layer_name("stylegan2", 0)


def _randomise(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            tensor.copy_(torch.randn(tensor.shape, generator=g))


def test_fused_upsampling_is_nearest_upsampling_then_the_flipped_kernel():
    """The fused (transposed, 4×4-summed) path used from 128 px on, which the 32-px vectors
    do not reach, equals nearest up-sampling then a 3×3 convolution with the kernel flipped."""
    x = torch.randn(2, 5, 6, 6, generator=torch.Generator().manual_seed(1))
    plain = PGGANConvBlock(5, 7, upsample=True)
    fused = PGGANConvBlock(5, 7, upsample=True, fused_scale=True)
    _randomise(plain, 0)
    fused.load_state_dict({"weight": plain.weight.transpose(0, 1).flip(2, 3), "bias": plain.bias})
    torch.testing.assert_close(fused(x), plain(x), atol=1e-5, rtol=1e-5)

    w = torch.randn(2, 4, generator=torch.Generator().manual_seed(2))
    plain = StyleGANConvBlock(5, 7, resolution=12, w_dim=4, upsample=True)
    fused = StyleGANConvBlock(5, 7, resolution=12, w_dim=4, upsample=True, fused_scale=True)
    _randomise(plain, 3)
    state = dict(plain.state_dict())
    state["weight"] = state["weight"].flip(2, 3)
    fused.load_state_dict(state)
    torch.testing.assert_close(fused(x, w), plain(x, w), atol=1e-4, rtol=1e-4)
