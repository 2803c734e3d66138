"""panda_viz.invert and the Inversion as latents: stages, exactness, the caller's generator, refusals.

Few optimisation steps here (the defaults' PSNR and time are measured by
benchmarks/bench_inversion.py); the generator is always the real embedded DCGAN.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from matplotlib import cbook

import panda_viz
from panda_viz.baselines import apply_direction
from panda_viz.decomposition import fit_generator
from panda_viz.editing import edits as editing
from panda_viz.editing import ranking, removal, saliency
from panda_viz.exceptions import (
    ConvergenceWarning,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
)
from panda_viz.generators import Inversion
from panda_viz.generators.inverted import tuned_module
from panda_viz.inversion.invert import default_inversion_layer, psnr, tunable_parameters

PHOTO = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
BOX = (80, 30, 450, 400)  # the face, placed as the DigiFace generator places faces
FAST = dict(n_starts=2, latent_steps=10, feature_steps=30, tune_steps=15, progress=False)


@pytest.fixture(scope="module")
def zoo():
    return panda_viz.load_edit_zoo("dcgan-digiface")


@pytest.fixture(scope="module")
def zoo_model(dcgan, zoo):
    return zoo.load_model("white_lips", dcgan)


@pytest.fixture(scope="module")
def model(zoo_model):
    """PandA factors at main.5 (the zoo's: 12 parts)."""
    return zoo_model


@pytest.fixture(scope="module")
def model_main8(dcgan):
    """A small PandA model at main.8, after the inversion layer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit_generator(dcgan, "main.8", n_samples=32, seed=0, n_parts=4, max_iter=5, random_state=0)


@pytest.fixture(scope="module")
def state(dcgan):
    """The generator's parameters and buffers before any inversion ran."""
    return {k: v.clone() for k, v in dcgan.module.state_dict().items()}


@pytest.fixture(scope="module")
def planted(dcgan):
    return dcgan.synthesize(dcgan.sample_latents(1, seed=7))


@pytest.fixture(scope="module")
def inversion(dcgan, state, planted):
    """The photo and a generated image, inverted together with a few steps per stage."""
    return panda_viz.invert(dcgan, [PHOTO, planted], box=[BOX, None], random_state=0, **FAST)


# ------------------------------------------------------------------------ the stages
def test_result_shapes_and_records(dcgan, inversion):
    assert len(inversion) == 2 and inversion.layer == "main.5" == default_inversion_layer(dcgan)
    assert inversion.latents.shape == (2, 100, 1, 1)
    assert inversion.features.shape == (2, 256, 8, 8) and bool((inversion.features >= 0).all())  # a ReLU's output
    assert inversion.reconstruction.shape == inversion.target.shape == (2, 3, 64, 64)
    assert set(inversion.history) == set(inversion.stage_psnr) == set(inversion.stage_seconds) == {"latents", "features", "tuning"}
    assert [len(inversion.history[s]) for s in ("latents", "features", "tuning")] == [10, 30, 15]
    assert inversion.tuned and set(inversion.tuned) == set(tunable_parameters(dcgan, "main.5"))
    torch.testing.assert_close(inversion.psnr, psnr(inversion.reconstruction, inversion.target))


def test_tuned_parameters_are_those_after_the_layer(dcgan):
    names = tunable_parameters(dcgan, "main.5")
    assert names and all(int(n.split(".")[1]) > 5 for n in names)
    assert {n.rsplit(".", 1)[0] for n in names} == {"main.6", "main.7", "main.9", "main.10", "main.12"}
    assert tunable_parameters(dcgan, None) == [n for n, _ in dcgan.module.named_parameters()]


def test_every_stage_reduces_the_loss(inversion):
    for stage, losses in inversion.history.items():
        assert losses[-1] < losses[0], stage
    psnrs = [inversion.stage_psnr[s] for s in ("latents", "features", "tuning")]
    assert bool((psnrs[0] < psnrs[1]).all()) and bool((psnrs[1] < psnrs[2]).all())


def test_a_generated_image_inverts_almost_exactly(inversion):
    # the photo is hard in 55 steps; a sample of the generator itself is not
    assert float(inversion.psnr[1]) > 35
    assert float(inversion.psnr[1]) > float(inversion.psnr[0])


def test_the_callers_generator_is_unchanged(dcgan, state, inversion):
    after = dcgan.module.state_dict()
    assert state.keys() == after.keys()
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert all(not p.requires_grad for p in dcgan.module.parameters())


def test_reconstruction_is_the_generators_output(dcgan, inversion):
    assert torch.equal(dcgan.synthesize(inversion), inversion.reconstruction)
    assert torch.equal(dcgan.synthesize(inversion, batch_size=1), inversion.reconstruction)
    assert torch.equal(dcgan.features(inversion, "main.5"), inversion.features)


def test_random_state_makes_it_reproducible(dcgan):
    kwargs = dict(n_starts=2, latent_steps=2, feature_steps=0, tune_steps=0, progress=False)
    a = panda_viz.invert(dcgan, PHOTO, random_state=3, **kwargs)
    b = panda_viz.invert(dcgan, PHOTO, random_state=torch.Generator().manual_seed(3), **kwargs)
    assert torch.equal(a.latents, b.latents) and torch.equal(a.reconstruction, b.reconstruction)


def test_random_state_none_leaves_the_global_generator_alone(dcgan):
    kwargs = dict(n_starts=2, latent_steps=1, feature_steps=0, tune_steps=0, progress=False)
    state = torch.get_rng_state()
    a = panda_viz.invert(dcgan, PHOTO, random_state=None, **kwargs)
    assert torch.equal(torch.get_rng_state(), state)  # fresh OS randomness, never torch.seed()
    b = panda_viz.invert(dcgan, PHOTO, random_state=None, **kwargs)
    assert not torch.equal(a.latents, b.latents)


def test_stages_can_be_skipped_and_the_callback_sees_every_step(dcgan):
    seen = []
    inv = panda_viz.invert(dcgan, PHOTO, layer=None, n_starts=1, latent_steps=2, feature_steps=5, tune_steps=2,
                           progress=False, callback=lambda *args: seen.append(args))
    assert inv.layer is None and inv.features is None and set(inv.history) == {"latents", "tuning"}
    assert [(s, i, n) for s, i, n, _ in seen] == [("latents", 1, 2), ("latents", 2, 2), ("tuning", 1, 2), ("tuning", 2, 2)]
    assert len(inv.tuned) == len(list(dcgan.module.parameters()))  # no layer: everything is tuned
    assert torch.equal(dcgan.synthesize(inv), inv.reconstruction)
    only_latents = panda_viz.invert(dcgan, PHOTO, n_starts=1, latent_steps=1, feature_steps=0, tune_steps=0, progress=False)
    assert only_latents.tuned is None and torch.equal(only_latents.features, dcgan.features(only_latents.latents, "main.5"))


def test_follows_the_generators_dtype(dcgan):
    module = copy.deepcopy(dcgan.module).double()
    G64 = panda_viz.Generator(module, (100, 1, 1), name=dcgan.name,
                              sampler=lambda n, rng: torch.randn((n, 100, 1, 1), generator=rng, dtype=torch.float64))
    inv = panda_viz.invert(G64, PHOTO, n_starts=1, latent_steps=1, feature_steps=1, tune_steps=1, progress=False)
    assert inv.latents.dtype == inv.features.dtype == inv.reconstruction.dtype == torch.float64
    assert all(v.dtype == torch.float64 for v in inv.tuned.values())


# ------------------------------------------------------------------------ one mechanism
@pytest.fixture(scope="module")
def identity_inversion(dcgan):
    """An inversion that *is* its latents: the features they give, the parameters the generator has."""
    z = dcgan.sample_latents(3, seed=11)
    parameters = dict(dcgan.module.named_parameters())
    tuned = {k: parameters[k].detach().clone() for k in tunable_parameters(dcgan, "main.5")}
    return z, Inversion(latents=z, layer="main.5", features=dcgan.features(z, "main.5"), tuned=tuned,
                        generator_name=dcgan.name)


def test_every_function_agrees_with_the_latents_path(dcgan, identity_inversion, zoo, zoo_model, model):
    z, inv = identity_inversion
    G = dcgan
    assert torch.equal(G.synthesize(inv), G.synthesize(z))
    for layer in ("main.5", "main.8", "main.11"):
        assert torch.equal(G.features(inv, layer), G.features(z, layer))
    Z8 = G.features(z, "main.8")
    assert torch.equal(G.synthesize_from("main.8", Z8, inv), G.synthesize_from("main.8", Z8, z))
    terms = [(1, 3, 2.5), (0, 1, -1.0)]
    assert torch.equal(editing.edit_images(G, inv, model, terms), editing.edit_images(G, z, model, terms))
    mask = torch.zeros(64, 64)
    mask[20:40, 10:30] = 1
    assert torch.equal(editing.edit_images(G, inv, model, [(None, 2, 3.0)], mask=mask),
                       editing.edit_images(G, z, model, [(None, 2, 3.0)], mask=mask))
    assert torch.equal(removal.remove_images(G, inv, model, 1, appearance=0), removal.remove_images(G, z, model, 1, appearance=0))
    assert torch.equal(saliency.fill_images(G, inv, model, 0), saliency.fill_images(G, z, model, 0))
    Z = G.features(inv, "main.5")
    assert torch.equal(saliency.localize(model, Z, [0, 1], size=64), saliency.localize(model, G.features(z, "main.5"), [0, 1], size=64))
    assert torch.equal(model.refine(Z, max_iter=3), model.refine(G.features(z, "main.5"), max_iter=3))
    a = ranking.rank_appearances(G, inv, model, 1, candidates=4)
    b = ranking.rank_appearances(G, z, model, 1, candidates=4)
    assert torch.equal(a.appearances, b.appearances) and torch.equal(a.scores, b.scores)
    assert torch.equal(zoo.apply(G, inv, "white_lips", model=zoo_model), zoo.apply(G, z, "white_lips", model=zoo_model))
    direction = torch.randn(100, generator=torch.Generator().manual_seed(0))
    moved = apply_direction(inv, direction, 2.0)
    assert isinstance(moved, Inversion) and torch.equal(moved.anchor, z)
    torch.testing.assert_close(G.synthesize(moved), G.synthesize(apply_direction(z, direction, 2.0)), atol=1e-5, rtol=0)


def test_alpha_zero_reproduces_the_reconstruction_bit_for_bit(dcgan, inversion, zoo, zoo_model, model):
    G, recon = dcgan, inversion.reconstruction
    assert torch.equal(editing.edit_images(G, inversion, model, [(0, 0, 0.0), (2, 5, 0.0)]), recon)
    assert torch.equal(editing.edit_images(G, inversion, model, [(None, 1, 0.0)], mask=torch.ones(8, 8)), recon)
    assert torch.equal(zoo.apply(G, inversion, "white_lips", model=zoo_model, alpha=0.0), recon)
    assert torch.equal(removal.remove_images(G, inversion, model, 1, appearance=0, alpha=0.0), recon)
    assert torch.equal(G.synthesize(apply_direction(inversion, torch.ones(100), 0.0)), recon)


def test_edits_act_on_the_stored_features(dcgan, inversion, model):
    delta = editing.local_edit(model, [(1, 3, 4.0)])
    edited = editing.edit_images(dcgan, inversion, model, [(1, 3, 4.0)])
    assert not torch.equal(edited, inversion.reconstruction)
    assert torch.equal(edited, dcgan.synthesize_from("main.5", inversion.features + delta, inversion))
    # a layer after the inversion layer sees the photo's features, through the tuned modules
    Z8 = dcgan.features(inversion, "main.8")
    assert torch.equal(dcgan.synthesize_from("main.8", Z8, inversion), inversion.reconstruction)


def test_a_direction_moves_the_photo_and_keeps_its_details(dcgan, inversion):
    direction = torch.randn(100, 1, 1, generator=torch.Generator().manual_seed(1))
    moved = apply_direction(inversion, direction, 3.0)
    images = dcgan.synthesize(moved)
    assert not torch.equal(images, inversion.reconstruction)
    again = apply_direction(moved, direction, -3.0)  # back along the same line
    torch.testing.assert_close(dcgan.synthesize(again), inversion.reconstruction, atol=1e-4, rtol=0)


def test_layers_before_the_inversion_layer_are_refused(dcgan, inversion, model_main8):
    with pytest.raises(InvalidInputError, match=r"layer 'main.2' comes before the inversion's layer 'main.5'"):
        dcgan.features(inversion, "main.2")
    with pytest.raises(InvalidInputError, match=r"'main.4' comes before the inversion's layer 'main.5'"):
        dcgan.synthesize(inversion, edits={"main.4": torch.zeros(256, 8, 8)})
    with pytest.raises(InvalidInputError, match=r"'main.2' comes before .*'main.5'"):
        dcgan.synthesize_from("main.2", torch.zeros(2, 512, 4, 4), inversion)
    # a later layer is fine
    assert editing.edit_images(dcgan, inversion, model_main8, [(0, 0, 1.0)]).shape == (2, 3, 64, 64)


def test_indexing_like_latents(dcgan, inversion):
    first = inversion[0]
    assert isinstance(first, Inversion) and len(first) == 1
    assert torch.equal(dcgan.synthesize(first), inversion.reconstruction[:1])
    assert torch.equal(inversion[1:].latents, inversion.latents[1:])
    assert torch.equal(inversion[[1, 0]].features, inversion.features[[1, 0]])
    assert torch.equal(inversion[torch.tensor([False, True])].psnr, inversion.psnr[1:])
    assert torch.equal(inversion[-1].target, inversion.target[1:])
    tiled = inversion.repeat(3, 1, 1, 1)
    assert len(tiled) == 6 and torch.equal(tiled.latents, inversion.latents.repeat(3, 1, 1, 1))
    assert inversion.shape == inversion.latents.shape and inversion.ndim == 4
    with pytest.raises(IndexError, match="out of range"):
        inversion[2]
    with pytest.raises(IndexError, match="selects no image"):
        inversion[5:]
    with pytest.raises(InvalidInputError, match=r"repeat\(n, 1, …\)"):
        inversion.repeat(2, 2)


def test_inversion_checks_against_the_generator(dcgan, inversion):
    with pytest.raises(InvalidInputError, match="made with generator 'dcgan-digiface'; got generator 'other'"):
        other = panda_viz.Generator(dcgan.module, (100, 1, 1), name="other")
        other.synthesize(inversion)
    bad = Inversion(latents=torch.zeros(1, 50), generator_name=dcgan.name)
    with pytest.raises(InvalidInputError, match=r"latents have shape \(50,\); generator 'dcgan-digiface' takes \(100, 1, 1\)"):
        dcgan.synthesize(bad)
    with pytest.raises(InvalidInputError, match="does not have"):
        dcgan.synthesize(Inversion(latents=inversion.latents, tuned={"main.99.weight": torch.zeros(1)}))
    with pytest.raises(InvalidInputError, match="features at layer 'main.5' have shape"):
        dcgan.synthesize(Inversion(latents=inversion.latents, layer="main.5", features=torch.zeros(2, 3, 8, 8)))
    with pytest.raises(InvalidInputError, match="layer and features go together"):
        Inversion(latents=inversion.latents, layer="main.5")
    with pytest.raises(InvalidInputError, match="one entry per image"):
        Inversion(latents=inversion.latents, psnr=torch.zeros(3))


def test_tuned_module_shares_what_it_does_not_tune(dcgan):
    parameters = dict(dcgan.module.named_parameters())
    twin = tuned_module(dcgan.module, {"main.12.weight": torch.zeros_like(parameters["main.12.weight"])})
    assert twin.get_parameter("main.0.weight") is parameters["main.0.weight"]
    assert twin.get_parameter("main.12.weight") is not parameters["main.12.weight"]
    assert float(parameters["main.12.weight"].abs().sum()) > 0
    with pytest.raises(InvalidInputError, match="not parameters of"):
        tuned_module(dcgan.module, {"nope": torch.zeros(1)})


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_starts": 0}, InvalidInputError, r"n_starts must be an int in \[1, inf\]; got 0"),
        ({"latent_steps": -1}, InvalidInputError, r"latent_steps must be an int in \[0, inf\]; got -1"),
        ({"tune_steps": 2.5}, InvalidTypeError, "tune_steps must be an int; got float 2.5"),
        ({"feature_lr": 0}, InvalidInputError, r"feature_lr must be a number in \(0.0, inf\]; got 0"),
        ({"tune_lr": float("nan")}, NonFiniteError, "tune_lr must be a finite number; got nan"),
        ({"layer": "main.55"}, ValueError, "layer 'main.55' not found"),
        ({"layer": 5}, InvalidTypeError, "layer must be 'auto', None or a layer name"),
        ({"random_state": -1}, InvalidInputError, "random_state must be"),
        ({"callback": 3}, InvalidTypeError, "callback must be callable"),
        ({"box": (0, 0, 1000, 10)}, InvalidInputError, "not inside the 512×600 image"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(dcgan, kwargs, error, match):
    with pytest.raises(error, match=match):
        panda_viz.invert(dcgan, PHOTO, progress=False, **kwargs)


def test_bad_generator_and_images(dcgan):
    with pytest.raises(InvalidTypeError, match="generator must be a panda_viz Generator"):
        panda_viz.invert(dcgan.module, PHOTO)
    with pytest.raises(InvalidInputError, match="at least one image"):
        panda_viz.invert(dcgan, [])
    with pytest.raises(InvalidTypeError, match="an image must be"):
        panda_viz.invert(dcgan, 3.5)


def test_works_inside_a_callers_no_grad(dcgan):
    with torch.no_grad():
        inv = panda_viz.invert(dcgan, PHOTO, n_starts=1, latent_steps=2, feature_steps=2, tune_steps=2, progress=False)
    assert set(inv.history) == {"latents", "features", "tuning"}
    assert inv.history["features"][-1] < inv.history["features"][0]
