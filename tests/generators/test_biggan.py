"""BigGAN through pytorch-pretrained-biggan: a small randomly initialised network built from
the package's own BigGANConfig, saved as the package saves checkpoints and loaded from disk."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz.exceptions import (
    InvalidFileError,
    InvalidTypeError,
    MissingFileError,
    WeightsNotInstalledError,
)
from panda_viz.generators.biggan.classes import imagenet_class_index, imagenet_classes
from panda_viz.generators.biggan.config import expected_weights
from panda_viz.generators.biggan.loader import (
    BIGGAN_MODELS,
    BigGANGenerator,
    load_biggan,
)

biggan_package = pytest.importorskip("pytorch_pretrained_biggan")

TRUNCATION = 0.5
# channel_width 4: blocks out 32, 32, 16, 8, 4 channels; 4x4 -> 32x32; attention before block 1
# (generator.layers.1), so generator.layers.0 … layers.5
LAYERS = [[True, 16, 8], [False, 8, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]]


@pytest.fixture(scope="module")
def network():
    config = biggan_package.BigGANConfig(
        output_dim=32, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=1000,
        layers=LAYERS, attention_layer_position=1, n_stats=51,
    )
    model = biggan_package.BigGAN(config).eval()
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith(("running_means", "weight_u", "weight_v")):
                continue
            if name.endswith("running_vars"):
                tensor.uniform_(0.5, 1.5, generator=rng)
            else:
                tensor.normal_(0, 0.3, generator=rng)  # also fills the final bn's uninitialised scale/offset
        # spectral norm's power iteration (train mode) so u, v match the new weights
        model.train()
        for _ in range(20):
            model(torch.zeros(1, 8), torch.eye(1000)[:1], 1.0)
    return model.eval()


@pytest.fixture(scope="module")
def folder(network, tmp_path_factory):
    """``save_pretrained``-style files: config.json and pytorch_model.bin."""
    path = tmp_path_factory.mktemp("biggan-tiny")
    (path / "config.json").write_text(network.config.to_json_string())
    torch.save(network.state_dict(), path / "pytorch_model.bin")
    return path


@pytest.fixture(scope="module")
def G(folder):
    return panda_viz.load_generator("biggan", path=folder, truncation=TRUNCATION, classes="golden retriever")


def test_loaded_generator_equals_the_package_model(G, network):
    assert isinstance(G, BigGANGenerator) and G.latent_shape == (8 + 1000,)
    latents = G.sample_latents(3, seed=0)
    z, c = G.split_latents(latents)
    with torch.no_grad():
        expected = network(z, c, TRUNCATION)
    images = G.synthesize(latents)
    assert images.shape == (3, 3, 32, 32)
    torch.testing.assert_close(images, expected, atol=1e-5, rtol=0)
    assert images.abs().max() <= 1 and (images.abs() < 0.99).float().mean() > 0.5  # tanh not saturated


def test_sampling_is_truncated_seeded_and_class_conditional(G):
    latents = G.sample_latents(64, seed=3)
    assert torch.equal(latents, G.sample_latents(64, seed=3))
    z, c = G.split_latents(latents)
    assert z.abs().max() <= 2 * TRUNCATION and z.std() > 0.1
    assert torch.equal(c.argmax(1), torch.full((64,), 207)) and torch.equal(c.sum(1), torch.ones(64))
    mixed = BigGANGenerator(G.module, truncation=TRUNCATION, classes=["tabby", 207, "Granny Smith"])
    picks = set(mixed.split_latents(mixed.sample_latents(64, seed=0))[1].argmax(1).tolist())
    assert picks == {281, 207, 948}


def test_layers_are_hookable_and_synthesize_from_reproduces(G):
    layers = G.layers
    blocks = [n for n in layers if n.count(".") == 2 and n.startswith("generator.layers.")]
    assert blocks == [f"generator.layers.{i}" for i in range(6)]
    assert layers["generator.layers.0"] == (32, 8, 8) and layers["generator.layers.1"] == (32, 8, 8)
    assert layers["generator.layers.5"] == (4, 32, 32)
    latents = G.sample_latents(2, seed=1)
    features = G.features(latents, "generator.layers.2")
    torch.testing.assert_close(G.synthesize_from("generator.layers.2", features, latents), G.synthesize(latents))
    edited = G.synthesize(latents, edits={"generator.layers.2": torch.full(features.shape[1:], 3.0)})
    assert not torch.allclose(edited, G.synthesize(latents))


def test_latents_from_noise_and_class_names(G):
    z = torch.zeros(2, 8)
    latents = G.latents(z, ["tabby", 207])
    assert latents[:, 8:].argmax(1).tolist() == [281, 207]
    assert G.latents(z, "tabby")[:, 8:].argmax(1).tolist() == [281, 281]
    with pytest.raises(ValueError, match=r"3 classes given for 2 samples"):
        G.latents(z, [1, 2, 3])
    with pytest.raises(ValueError, match=r"z of shape \(N, 8\) expected; got \(2, 7\)"):
        G.latents(torch.zeros(2, 7), 1)


def test_imagenet_class_names():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[999] == "toilet tissue"
    assert imagenet_class_index("Golden_Retriever") == 207 == imagenet_class_index(207)
    with pytest.raises(ValueError, match=r"unknown ImageNet class name 'golden retreiver'; did you mean 'golden retriever'"):
        imagenet_class_index("golden retreiver")
    with pytest.raises(ValueError, match=r"'crane' is ambiguous: ImageNet classes \[134, 517\]"):
        imagenet_class_index("crane")
    with pytest.raises(ValueError, match=r"class index must be an int in \[0, 999\]; got 1,000"):
        imagenet_class_index(1000)
    assert imagenet_class_index(np.int64(281)) == 281 == imagenet_class_index(torch.tensor(281))
    with pytest.raises(InvalidTypeError, match="a class must be an int index or a str name; got bool True"):
        imagenet_class_index(True)


def test_loads_from_the_weights_file_and_the_package_cache(folder, network, tmp_path):
    by_file = panda_viz.load_generator(folder / "pytorch_model.bin", truncation=TRUNCATION)
    assert isinstance(by_file, BigGANGenerator) and by_file.class_indices is None
    # the package's cache names files sha256(url).sha256(etag), with a .json beside them
    cache = tmp_path / "cache"
    cache.mkdir()
    for kind, source in (("weights", "pytorch_model.bin"), ("config", "config.json")):
        url = BIGGAN_MODELS["biggan-deep-256"][kind]
        stem = hashlib.sha256(url.encode()).hexdigest() + "." + hashlib.sha256(b'"etag"').hexdigest()
        (cache / stem).write_bytes((folder / source).read_bytes())
        (cache / f"{stem}.json").write_text(json.dumps({"url": url, "etag": '"etag"'}))
    cached = panda_viz.load_generator("biggan-deep-256", cache_dir=cache, truncation=TRUNCATION, classes=1)
    latents = cached.sample_latents(2, seed=0)
    z, c = cached.split_latents(latents)
    with torch.no_grad():
        torch.testing.assert_close(cached.synthesize(latents), network(z, c, TRUNCATION), atol=1e-5, rtol=0)
    assert cached.name == "biggan-deep-256"


def test_missing_weights_and_bad_options(tmp_path, folder):
    with pytest.raises(WeightsNotInstalledError, match=r"'biggan-deep-512' are not in the pytorch-pretrained-biggan cache.*never downloads"):
        load_biggan("biggan-deep-512", cache_dir=tmp_path)
    with pytest.raises(MissingFileError, match="config.json") as missing:
        load_biggan(path=tmp_path)
    assert isinstance(missing.value, FileNotFoundError) and missing.value.path == tmp_path / "pytorch_model.bin"
    with pytest.raises(ValueError, match=r"truncation must be a number in \(0, 1\]; got 0"):
        load_biggan(path=folder, truncation=0.0)
    with pytest.raises(InvalidTypeError, match="truncation must be a real number; got bool True"):
        load_biggan(path=folder, truncation=True)
    with pytest.raises(ValueError, match=r"unknown BigGAN 'biggan-deep-265'; did you mean 'biggan-deep-256'"):
        load_biggan("biggan-deep-265")
    lone = tmp_path / "lone" / "pytorch_model.bin"
    lone.parent.mkdir()
    lone.write_bytes(b"")
    with pytest.raises(ValueError, match="matches no known checkpoint format.*no config.json beside it"):
        panda_viz.load_generator(lone)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(folder.joinpath("config.json").read_text().replace('"channel_width": 4', '"channel_width": 8'))
    (other / "pytorch_model.bin").write_bytes(folder.joinpath("pytorch_model.bin").read_bytes())
    with pytest.raises(InvalidFileError, match=r"weights of the wrong shape for the BigGAN that config.json describes: generator.gen_z.bias \(1024,\) \(expected \(2048,\)\)"):
        load_biggan(path=other)


@pytest.mark.parametrize("attention", [1, 8])
def test_expected_weights_are_those_of_the_package_model(attention):
    """The shapes the loader checks a file against, before building, are the package's."""
    config = dict(output_dim=32, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=10,
                  layers=[list(layer) for layer in LAYERS], attention_layer_position=attention, n_stats=7)
    with torch.device("meta"):
        model = biggan_package.BigGAN(biggan_package.BigGANConfig(**config))
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert {name: tuple(t.shape) for name, t in expected_weights(config).items()} == expected


def test_a_weights_file_reads_its_config_once(folder, monkeypatch):
    from panda_viz.generators.biggan import config, loader

    reads = []

    def counting(path, **kwargs):
        reads.append(path)
        return real(path, **kwargs)

    real = loader.read_json_file
    monkeypatch.setattr(loader, "read_json_file", counting)
    monkeypatch.setattr(config, "read_json_file", counting)
    panda_viz.load_generator(folder / "pytorch_model.bin", truncation=TRUNCATION)
    assert reads == [folder / "config.json"]
    reads.clear()
    load_biggan(path=folder, truncation=TRUNCATION)
    assert reads == [folder / "config.json"]
