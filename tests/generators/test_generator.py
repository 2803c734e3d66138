"""The Generator wrapper on the embedded DCGAN: exact agreement with the plain forward pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import panda_viz
from panda_viz.exceptions import InvalidInputError, InvalidTypeError
from panda_viz.generators import Generator, load_generator


def _no_hooks(module: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_embedded_generator_layers(dcgan):
    layers = dcgan.layers
    assert layers["main.2"] == (512, 4, 4)
    assert layers["main.5"] == (256, 8, 8)
    assert layers["main.8"] == (128, 16, 16)
    assert layers["main.11"] == (64, 32, 32)
    assert list(layers)[:3] == ["main.0", "main.1", "main.2"]  # forward order
    assert dcgan.image_shape == (3, 64, 64)
    assert not dcgan.module.training


def test_synthesize_equals_plain_forward(dcgan, dcgan_latents):
    with torch.no_grad():
        plain = dcgan.module(dcgan_latents)
    images = dcgan.synthesize(dcgan_latents, batch_size=4)  # two uneven batches
    assert torch.equal(images, plain)
    assert images.shape == (6, 3, 64, 64) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert not images.requires_grad


@pytest.mark.parametrize("layer", ["main.4", "main.5", "main.8", "main.0"])
def test_features_equal_module_output(dcgan, dcgan_latents, layer):
    """Also for main.4, the BatchNorm output that the in-place ReLU main.5 overwrites."""
    module = dcgan.module.main
    index = int(layer.split(".")[1])
    with torch.no_grad():
        expected = module[: index + 1](dcgan_latents)
    got = dcgan.features(dcgan_latents, layer, batch_size=5)
    assert torch.equal(got, expected)
    if layer == "main.4":
        assert got.min() < 0  # the pre-activation, not the clamped tensor


def test_synthesize_from_features_round_trip(dcgan, dcgan_latents):
    for layer in ["main.5", "main.8"]:
        features = dcgan.features(dcgan_latents, layer)
        kept = features.clone()
        assert torch.equal(dcgan.synthesize_from(layer, features), dcgan.synthesize(dcgan_latents))
        assert torch.equal(features, kept)  # the in-place ReLU downstream did not touch ours


def test_zero_edit_changes_nothing(dcgan, dcgan_latents):
    zero = torch.zeros(dcgan.layers["main.5"])
    assert torch.equal(dcgan.synthesize(dcgan_latents, edits={"main.5": zero}), dcgan.synthesize(dcgan_latents))
    identity = {"main.8": lambda f: f}
    assert torch.equal(dcgan.synthesize(dcgan_latents, edits=identity), dcgan.synthesize(dcgan_latents))


def test_regional_edit_changes_the_image_mostly_there(dcgan, dcgan_latents):
    c, h, w = dcgan.layers["main.8"]
    delta = torch.zeros(c, h, w)
    delta[:, :4, :4] = 3.0  # top-left quarter of the feature map
    before = dcgan.synthesize(dcgan_latents)
    after = dcgan.synthesize(dcgan_latents, edits={"main.8": delta})
    change = (after - before).pow(2).sum(dim=(0, 1))
    inside = change[:20, :20].sum()  # the quarter (16 px) plus the receptive-field margin
    assert inside > 0.9 * change.sum()


def test_per_sample_edit_batches(dcgan, dcgan_latents):
    shape = dcgan.layers["main.5"]
    delta = torch.zeros(6, *shape)
    delta[3] = 1.0
    before = dcgan.synthesize(dcgan_latents)
    after = dcgan.synthesize(dcgan_latents, edits={"main.5": delta}, batch_size=2)
    changed = (after - before).flatten(1).abs().amax(1) > 0
    assert changed.tolist() == [False, False, False, True, False, False]


def test_features_with_upstream_edit(dcgan, dcgan_latents):
    delta = torch.ones(dcgan.layers["main.2"])
    with torch.no_grad():
        expected = dcgan.module.main[3:6](dcgan.module.main[:3](dcgan_latents) + delta)
    assert torch.allclose(dcgan.features(dcgan_latents, "main.5", edits={"main.2": delta}), expected)


def test_sample_latents_reproducible(dcgan):
    a, b = dcgan.sample_latents(3, seed=7), dcgan.sample_latents(3, seed=7)
    assert torch.equal(a, b) and a.shape == (3, 100, 1, 1)
    assert not torch.equal(a, dcgan.sample_latents(3, seed=8))
    assert torch.equal(dcgan.sample_latents(3, rng=torch.Generator().manual_seed(7)), a)


def test_flat_latents_accepted(dcgan, dcgan_latents):
    assert torch.equal(dcgan.synthesize(dcgan_latents.flatten(1)), dcgan.synthesize(dcgan_latents))


def test_grad_on_request(dcgan, dcgan_latents):
    z = dcgan_latents[:1].clone().requires_grad_(True)
    image = dcgan.synthesize(z, grad=True)
    image.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_no_hook_remains_even_after_exception(dcgan, dcgan_latents):
    def boom(_f):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        dcgan.synthesize(dcgan_latents, edits={"main.5": boom})
    dcgan.features(dcgan_latents, "main.8")
    dcgan.synthesize_from("main.5", dcgan.features(dcgan_latents, "main.5"))
    assert _no_hooks(dcgan.module)


def test_progress_bar_can_be_forced_and_switched_off(dcgan, capsys):
    z = dcgan.sample_latents(4, seed=0)
    dcgan.features(z, "main.2", batch_size=1, progress=True)
    assert "features main.2" in capsys.readouterr().err
    dcgan.features(z, "main.2", batch_size=1, progress=False)
    assert capsys.readouterr().err == ""


def test_wrap_any_module():
    net = nn.Sequential(nn.ConvTranspose2d(8, 4, 4), nn.ReLU(inplace=True), nn.Conv2d(4, 3, 1), nn.Tanh())
    G = load_generator(net, latent_shape=(8, 1, 1), name="tiny")
    assert G.layers == {"0": (4, 4, 4), "1": (4, 4, 4), "2": (3, 4, 4), "3": (3, 4, 4)}
    z = G.sample_latents(2, seed=0)
    assert torch.equal(G.synthesize(z), net(z))
    assert load_generator(G) is G


# ------------------------------------------------------------------ bad input
def test_unknown_generator_lists_registered():
    with pytest.raises(ValueError, match=r"unknown generator 'stylegan9'; expected one of: .*'dcgan-digiface'"):
        load_generator("stylegan9")


def test_not_a_module():
    with pytest.raises(TypeError, match="got int"):
        load_generator(42)
    with pytest.raises(TypeError, match="expected a torch.nn.Module; got str"):
        Generator("net", latent_shape=(3,))
    with pytest.raises(TypeError, match="latent_shape"):
        load_generator(nn.Linear(2, 2))


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_generator(tmp_path / "nope.pkl")
    (tmp_path / "x.weird").write_bytes(b"")
    with pytest.raises(ValueError, match=r"no loader for checkpoint files ending in '.weird'"):
        load_generator(tmp_path / "x.weird")


def test_unknown_layer_lists_layers_with_shapes(dcgan, dcgan_latents):
    with pytest.raises(ValueError, match=r"layer 'main.55' not found; did you mean 'main.5'[^?]*\? Layers: main.0 \(512×4×4\), .*main.5 \(256×8×8\)"):
        dcgan.features(dcgan_latents, "main.55")


def test_check_layer_returns_the_feature_shape(dcgan):
    assert dcgan.check_layer("main.5") == dcgan.layers["main.5"] == (256, 8, 8)
    with pytest.raises(InvalidInputError, match=r"layer 'main.55' not found; did you mean 'main.5'[^?]*\? Layers: main.0 \(512×4×4\)"):
        dcgan.check_layer("main.55")
    with pytest.raises(InvalidTypeError, match="layer must be a module name \\(str\\); got int"):
        dcgan.check_layer(5)


@pytest.mark.parametrize("bad", [torch.zeros(2, 50), torch.zeros(100), torch.zeros(2, 100, 2, 1), torch.zeros(0, 100, 1, 1)])
def test_latents_of_wrong_shape(dcgan, bad):
    with pytest.raises(ValueError, match=r"latents of shape \(N, 100, 1, 1\) expected .*; got"):
        dcgan.synthesize(bad)


def test_latents_not_a_tensor(dcgan):
    with pytest.raises(TypeError, match="got list"):
        dcgan.synthesize([[0.0] * 100])


@pytest.mark.parametrize("n, error, match", [
    (0, InvalidInputError, r"n must be an int in \[1, inf\]; got 0"),
    (-3, InvalidInputError, r"n must be an int in \[1, inf\]; got -3"),
    (2.5, InvalidTypeError, "n must be an int; got float 2.5"),
    (True, InvalidTypeError, "n must be an int; got bool True"),
])
def test_bad_sample_count(dcgan, n, error, match):
    with pytest.raises(error, match=match):
        dcgan.sample_latents(n)


def test_seeds_follow_the_one_rule_for_random_states(dcgan):
    assert torch.equal(dcgan.sample_latents(2, seed=3), dcgan.sample_latents(2, seed=3))
    assert not torch.equal(dcgan.sample_latents(2), dcgan.sample_latents(2))  # None: fresh each call
    with pytest.raises(InvalidInputError, match=r"seed must be None, an int in \[0, 2\*\*63 - 1\]"):
        dcgan.sample_latents(2, seed=-1)
    with pytest.raises(InvalidTypeError, match="rng must be a torch.Generator or None; got int"):
        dcgan.sample_latents(2, rng=3)


def test_bad_edit_shape_and_type(dcgan, dcgan_latents):
    with pytest.raises(ValueError, match=r"edit at layer 'main.5' must have shape \(256, 8, 8\) or \(6, 256, 8, 8\); got \(128, 8, 8\)"):
        dcgan.synthesize(dcgan_latents, edits={"main.5": torch.zeros(128, 8, 8)})
    with pytest.raises(TypeError, match="must be a tensor or a callable; got float"):
        dcgan.synthesize(dcgan_latents, edits={"main.5": 1.0})


def test_synthesize_from_bad_features(dcgan, dcgan_latents):
    with pytest.raises(ValueError, match=r"features of shape \(N, 128, 16, 16\) expected at layer 'main.8'; got \(6, 256, 8, 8\)"):
        dcgan.synthesize_from("main.8", dcgan.features(dcgan_latents, "main.5"))


def test_weights_package_missing(monkeypatch):
    import importlib.resources as resources

    from panda_viz.generators import dcgan as dcgan_module

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(resources, "files", missing)
    with pytest.raises(panda_viz.WeightsNotInstalledError, match=r"pip install --no-deps gan-face-generate==1.1.1"):
        dcgan_module.dcgan_digiface()


def test_file_loaders_chain_by_suffix(tmp_path, monkeypatch):
    from panda_viz.generators import NotThisFormat, registry

    monkeypatch.setattr(registry, "_FILE_FORMATS", {})
    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(2, 3, 2))

    @registry.register_file_format(".ckpt")
    def first(path, **options):
        raise NotThisFormat("no 'generator' key")

    @registry.register_file_format(".ckpt")
    def second(path, **options):
        if "config" not in options:
            raise NotThisFormat("needs config=")
        return Generator(net, latent_shape=(2, 1, 1), name=options["config"])

    (tmp_path / "g.ckpt").write_bytes(b"")
    assert load_generator(tmp_path / "g.ckpt", config="tiny").name == "tiny"
    with pytest.raises(ValueError, match=r"matches no known checkpoint format; first: no 'generator' key; second: needs config="):
        load_generator(tmp_path / "g.ckpt")


def test_iter_features_streams_batches(dcgan, dcgan_latents):
    batches = list(dcgan.iter_features(dcgan_latents, "main.5", batch_size=4))
    assert [len(b) for b in batches] == [4, 2]
    assert torch.equal(torch.cat(batches), dcgan.features(dcgan_latents, "main.5"))
