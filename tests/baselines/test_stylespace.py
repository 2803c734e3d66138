"""StyleSpace: the official channel detection pinned to a numpy transcription, on hand-made
maps and on the style-based test generators of tests/data; style edits; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testdata import data_folder

import panda_viz
from panda_viz.baselines import (
    StyleSpaceChannels,
    edit_styles,
    style_gradients,
    stylespace,
)
from panda_viz.baselines.stylespace_scores import (
    REST,
    downsample_labels,
    overlap_scores,
    region_labels,
    region_votes,
    vote_shares,
)
from panda_viz.exceptions import InvalidInputError, InvalidTypeError, NonFiniteError
from panda_viz.generators import Inversion
from panda_viz.generators.styles import (
    read_styles,
    replace_styles,
    style_layers,
    synthesize_styles,
)
from panda_viz.paper.regions import face_masks

FAMILIES = ["stylegan2", "stylegan3-t", "stylegan3-r", "genforce-stylegan", "genforce-stylegan2"]


def load(name: str, **options):
    folder = data_folder(name)
    if name.startswith("genforce"):
        return panda_viz.load_generator(folder / "checkpoint.pth", **options)
    return panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json", **options)


@pytest.fixture(scope="module", params=FAMILIES)
def generator(request):
    return load(request.param)


# ------------------------------------------------------------- the official code, in numpy
# Transcribed from betterze/StyleSpace: align_mask.py (ExpendSMask, OverlapScore, GetScore and
# the label maps' reduction in __main__) and semantic_channel.py (TopRate).
def expend_smask(semantic_masks, num_semantic):
    return np.transpose(np.array([semantic_masks == i for i in range(num_semantic)]), [1, 0, 2, 3])


def official_labels(semantic_masks, num_semantic, out_size):
    n = len(semantic_masks)
    masks2 = expend_smask(semantic_masks, num_semantic)
    step = masks2.shape[-1] // out_size
    masks2 = masks2.reshape(n, num_semantic, out_size, step, out_size, step).sum(axis=(3, 5))
    return expend_smask(np.argmax(masks2, axis=1), num_semantic)


def official_overlap(mask2, tmp_mask):
    o = tmp_mask.sum()
    if o == 0:
        return np.nan, np.nan, np.nan
    p = o / (mask2.shape[0] * mask2.shape[1])
    threshold = np.percentile(mask2.reshape(-1), (1 - p) * 100)
    gmask = mask2 > threshold
    return np.sum(np.logical_and(gmask, tmp_mask)), np.sum(np.logical_or(gmask, tmp_mask)), o


def official_align(layer_g, semantic_masks2, out_size):
    """layer_g (num_img, C, 3·out·out) signed gradients; semantic_masks2 (num_img, K, out, out)."""
    num_img, num_channel, _ = layer_g.shape
    scores2 = np.zeros((num_img, num_channel, semantic_masks2.shape[1], 3))
    for img_index in range(num_img):
        for cindex in range(num_channel):
            mask2 = np.abs(layer_g[img_index, cindex].reshape((3, out_size, out_size))).mean(axis=0)
            scores2[img_index, cindex] = [official_overlap(mask2, m) for m in semantic_masks2[img_index]]
    return scores2


def official_toprate(all_var_grad):
    all_count_top = []
    for layer_g in all_var_grad:
        count_top = np.zeros([layer_g.shape[1], layer_g.shape[2]])
        for cindex in range(layer_g.shape[1]):
            semantic_in = layer_g[:, cindex, :, 0] / (layer_g[:, cindex, :, 2] ** 2)
            values, counts = np.unique(np.nanargmax(np.abs(semantic_in), axis=1), return_counts=True)
            count_top[cindex, values] = counts
        all_count_top.append(count_top)
    mask_counts3 = (~np.isnan(all_var_grad[0][:, 0, :, 2])).sum(axis=0)
    mask_counts3[mask_counts3 == 0] = 1
    return [c / mask_counts3 for c in all_count_top]


# ------------------------------------------------------------- hand-made maps and masks
def hand_made(seed=0, n=4, c=6, size=8, k=4):
    rng = np.random.default_rng(seed)
    maps = rng.random((n, c, size, size))
    maps[:, 0] = 0.0  # a dead channel: its map wins no pixel
    maps[:, 1] = np.round(maps[:, 1] * 3) / 3  # many ties
    labels = rng.integers(0, k, size=(n, size, size))
    labels[0][labels[0] == 2] = 1  # region 2 absent from image 0
    labels[1, :4, :4] = 3
    return maps, labels


def test_overlap_scores_equal_the_official_code():
    maps, labels = hand_made()
    n, o = overlap_scores(torch.as_tensor(maps), torch.as_tensor(labels), 4)
    for i in range(len(maps)):
        masks = expend_smask(labels[i : i + 1], 4)[0]
        for c in range(maps.shape[1]):
            expected = np.array([official_overlap(maps[i, c], m) for m in masks])
            np.testing.assert_array_equal(n[i, c].numpy(), expected[:, 0])
            np.testing.assert_array_equal(o[i].numpy(), expected[:, 2])
    assert torch.isnan(n[0, :, 2]).all() and torch.isnan(o[0, 2])


def test_overlap_score_of_a_map_that_lights_one_region():
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, :2, :2] = 1  # o = 4 of 16 pixels
    maps = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    maps[0, 0][labels[0] == 1] = 1.0  # exactly the region
    maps[0, 1, 3, 3] = 1.0  # one background pixel
    n, o = overlap_scores(maps, labels, 2)
    assert o.tolist() == [[12.0, 4.0]]
    # channel 0: above its 75% quantile (0) are the 4 region pixels; above its 25% quantile too
    assert n[0, 0].tolist() == [0.0, 4.0]
    assert n[0, 1].tolist() == [1.0, 0.0]
    assert region_votes(n, o).tolist() == [[1, 0]]


@pytest.mark.parametrize("discount", [2.0, 1.0])
def test_votes_and_scores_equal_the_official_toprate(discount):
    maps, labels = hand_made(seed=1, n=6)
    n, o = overlap_scores(torch.as_tensor(maps), torch.as_tensor(labels), 4)
    votes = region_votes(n, o, discount=discount)
    scores = vote_shares(votes, ~torch.isnan(o))
    layer = np.concatenate([n.numpy()[..., None], np.zeros_like(n.numpy())[..., None],
                            np.broadcast_to(o.numpy()[:, None, :, None], n.shape + (1,))], axis=-1)
    if discount == 2.0:
        np.testing.assert_allclose(scores.numpy(), official_toprate([layer])[0], rtol=0, atol=1e-15)
    semantic_in = layer[..., 0] / layer[..., 2] ** discount
    np.testing.assert_array_equal(votes.numpy(), np.nanargmax(np.abs(semantic_in), axis=2))
    assert (votes[:, 0] == 0).all()  # the dead channel votes for the first region present, as official


def test_downsampled_labels_equal_the_official_majority():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=(2, 16, 16))
    labels[0, :4, :4] = [[0, 0, 1, 1]] * 4  # a tie: the lowest label wins
    got = downsample_labels(torch.as_tensor(labels), 4, 3)
    expected = official_labels(labels, 3, 4)
    np.testing.assert_array_equal(expend_smask(got.numpy(), 3), expected)
    assert got[0, 0, 0] == 0


def test_named_masks_become_labels_with_a_rest_region():
    hw = (8, 8)
    eyes = torch.zeros(hw)
    eyes[:2] = 0.9
    mouth = torch.zeros(hw)
    mouth[1:3] = 0.7  # row 1 overlaps the eyes, where the eyes' mask is larger
    labels, names = region_labels({"eyes": eyes, "mouth": mouth}, 3, hw)
    assert names == (REST, "eyes", "mouth")
    assert labels.shape == (3, 8, 8)
    assert (labels[:, :2] == 1).all() and (labels[:, 2] == 2).all() and (labels[:, 3:] == 0).all()
    mouth[2, 0] = 0.85
    labels, _ = region_labels({"eyes": eyes, "mouth": mouth}, 1, hw, mask_threshold=0.8)
    assert labels[0, 2, 0] == 2 and (labels[0, 2, 1:] == 0).all()  # the rest of the mouth is below the threshold


def test_label_maps_keep_their_labels_and_names():
    maps = torch.randint(0, 3, (2, 8, 8))
    labels, names = region_labels(maps, 2, (8, 8))
    assert torch.equal(labels, maps) and names == ("0", "1", "2")
    _, names = region_labels(maps.numpy(), 2, (8, 8), region_names=["background", "skin", "hair", "eyes"])
    assert names == ("background", "skin", "hair", "eyes")


def test_region_errors():
    hw = (8, 8)
    with pytest.raises(InvalidInputError, match=r"mask 'eyes' of shape \(8, 8\) \(the image size\).*got \(16, 16\)"):
        region_labels({"eyes": torch.ones(16, 16)}, 2, hw)
    with pytest.raises(InvalidInputError, match=r"\(2, 8, 8\) expected; got \(3, 8, 8\)"):
        region_labels({"eyes": torch.ones(3, 8, 8)}, 2, hw)
    with pytest.raises(InvalidInputError, match="values in \\[0, 1\\]"):
        region_labels({"eyes": torch.full(hw, 2.0)}, 2, hw)
    with pytest.raises(InvalidInputError, match="covers no pixel"):
        region_labels({"eyes": torch.zeros(hw)}, 2, hw)
    with pytest.raises(InvalidInputError, match="reserved"):
        region_labels({REST: torch.ones(hw)}, 2, hw)
    with pytest.raises(InvalidTypeError, match="integer label maps"):
        region_labels(torch.rand(2, 8, 8), 2, hw)
    with pytest.raises(InvalidInputError, match="label 2, but region_names names labels 0 … 1"):
        region_labels(torch.full((2, 8, 8), 2), 2, hw, region_names=["a", "b"])


# ------------------------------------------------------------- S on the real generators
def test_style_layers_of_each_family(generator):
    layers = style_layers(generator)
    with_rgb = style_layers(generator, include_torgb=True)
    assert set(layers) <= set(with_rgb) and all(v > 0 for v in layers.values())
    rgb = [name for name in with_rgb if name not in layers]
    family = type(generator.module).__name__
    if family == "StyleGAN2":  # NVlabs: b4 has conv1 only; each resolution a ToRGB
        assert list(layers)[:3] == ["synthesis.b4.conv1.affine", "synthesis.b8.conv0.affine", "synthesis.b8.conv1.affine"]
        assert rgb == [f"synthesis.b{r}.torgb.affine" for r in (4, 8, 16, 32)]
    elif family == "StyleGAN3":
        assert len(layers) == generator.module.synthesis.num_layers and rgb == [list(with_rgb)[-1]]
        assert "synthesis.input.affine" not in with_rgb
    elif family == "StyleGANGenerator":  # AdaIN: 2C styles (scale, shift) per layer, no RGB style
        assert list(layers) == [f"synthesis.layer{i}.style" for i in range(8)] and not rgb
        assert layers["synthesis.layer0.style"] == 2 * generator.layers["synthesis.layer0"][0]
    else:
        assert list(layers) == [f"synthesis.layer{i}.style" for i in range(7)]
        assert rgb == [f"synthesis.output{b}.style" for b in range(4)]
    # S is not a feature layer: the hookable layers are unchanged
    assert not set(with_rgb) & set(generator.layers)


def test_read_styles_are_the_affine_outputs():
    G = load("stylegan2", latent_space="w")
    w = G.sample_latents(3, seed=2)
    styles = read_styles(G, w)
    for layer, s in styles.items():
        torch.testing.assert_close(s, G.module.get_submodule(layer)(w), rtol=0, atol=0)
    G = load("genforce-stylegan2")
    z = G.sample_latents(2, seed=2)
    wp = G.module.mapping_and_truncation(z)
    styles = read_styles(G, z)
    torch.testing.assert_close(styles["synthesis.layer3.style"], G.module.synthesis.layer3.style(wp[:, 3]))


def _last(generator):
    return list(style_layers(generator))[-1]


def test_forward_mode_equals_reverse_mode(generator):
    z = generator.sample_latents(2, seed=4)
    layer = _last(generator)
    picked = [0, 5, style_layers(generator)[layer] - 1]
    out = 2 if type(generator.module).__name__ == "StyleGAN3" else 4  # StyleGAN3's passes are the slowest
    forward = style_gradients(generator, z, layers=layer, channels=picked, out_size=out)[layer]
    reverse = style_gradients(generator, z, layers=layer, out_size=out, method="reverse")[layer]
    assert forward.shape == (2, 3, 3, out, out) and reverse.shape == (2, style_layers(generator)[layer], 3, out, out)
    assert forward.abs().max() > 1e-3
    torch.testing.assert_close(forward, reverse[:, picked], rtol=1e-4, atol=1e-6)


def test_gradient_maps_match_finite_differences():
    G = load("genforce-stylegan2")
    G.module.double()  # float64, so that central differences are accurate
    z = G.sample_latents(2, seed=5)
    layer = "synthesis.layer2.style"
    maps = style_gradients(G, z, layers=layer, channels=[7], out_size=8)[layer][:, 0]
    assert maps.dtype == torch.float64
    eps = 1e-5
    delta = torch.zeros(2, 64, dtype=torch.float64)
    delta[:, 7] = eps
    plus, minus = synthesize_styles(G, z, {layer: delta}), synthesize_styles(G, z, {layer: -delta})
    numeric = torch.nn.functional.avg_pool2d((plus - minus) / (2 * eps), 4)
    torch.testing.assert_close(maps, numeric, rtol=0, atol=1e-6 * float(numeric.abs().max()))


def test_alpha_zero_reproduces_the_image_exactly(generator):
    z = generator.sample_latents(3, seed=6)
    layer = _last(generator)
    sigma = {layer: torch.ones(style_layers(generator)[layer])}
    plain = generator.synthesize(z)
    assert torch.equal(edit_styles(generator, z, [(layer, 0, 0.0), (layer, 5, 0.0)], sigma=sigma), plain)
    assert torch.equal(edit_styles(generator, z, [], sigma=None), plain)
    moved = edit_styles(generator, z, [(layer, 5, torch.tensor([0.0, 3.0, -3.0]))], sigma=sigma)
    # StyleGAN3 scales a batch's styles by their mean square (demodulation cancels it, up to rounding)
    torch.testing.assert_close(moved[0], plain[0], rtol=0, atol=1e-5)
    assert not torch.allclose(moved[1], plain[1])


def test_edits_move_the_style_by_alpha_sigma():
    G = load("stylegan2", latent_space="w")
    w = G.sample_latents(2, seed=7)
    layer = "synthesis.b16.conv0.affine"
    sigma = {layer: torch.linspace(0.5, 2.0, 64)}
    expected = read_styles(G, w, layers=layer)[layer].clone()
    expected[:, 9] += 3.0 * sigma[layer][9]
    expected[:, 3] -= sigma[layer][3]
    with replace_styles(G, {layer: lambda s: expected}):
        wanted = G.synthesize(w)
    got = edit_styles(G, w, [(layer, 9, 2.0), (layer, 9, 1.0), (layer, 3, -1.0)], sigma=sigma)
    torch.testing.assert_close(got, wanted, rtol=0, atol=1e-6)
    assert not torch.allclose(got, G.synthesize(w))


def _face_regions(generator):
    return face_masks(size=generator.image_shape[-1])


@pytest.mark.parametrize("name", ["stylegan2", "genforce-stylegan2"])
def test_stylespace_equals_the_official_pipeline_on_its_gradient_maps(name):
    # after the gradient maps (checked on every family above) the pipeline is the same for all
    generator = load(name)
    z = generator.sample_latents(2, seed=8)
    layers = list(style_layers(generator))[-2:]
    masks = _face_regions(generator)
    maps = style_gradients(generator, z, layers=layers, out_size=4, method="reverse")
    result = stylespace(generator, z, masks, gradients=maps)
    labels, names = region_labels(masks, 2, tuple(generator.image_shape[1:]))
    semantic = official_labels(labels.numpy(), len(names), 4)
    official = official_toprate([official_align(maps[l].flatten(2).double().numpy(), semantic, 4) for l in layers])
    assert result.regions == (REST, "eyes", "nose", "mouth") and list(result.layers) == layers
    for layer, expected in zip(layers, official, strict=True):
        np.testing.assert_allclose(result.scores[layer].numpy(), expected, rtol=0, atol=1e-12)
        assert (result.votes[layer].sum(dim=1) == 2).all()  # each image votes once per channel
    s = read_styles(generator, z, layers=layers)
    for layer in layers:
        np.testing.assert_allclose(result.sigma[layer].numpy(), s[layer].double().numpy().std(axis=0), rtol=1e-12)


@pytest.mark.parametrize("method", ["forward", "reverse"])
def test_stylespace_computes_the_maps_it_is_given(method):
    G = load("genforce-stylegan2")
    z = G.sample_latents(2, seed=8)
    layer = "synthesis.layer6.style"
    masks = _face_regions(G)
    own = stylespace(G, z, masks, layers=[layer], out_size=8, method=method)
    given = stylespace(G, z, masks, gradients=style_gradients(G, z, layers=layer, out_size=8, method="reverse"))
    assert own.info["method"] == method and given.info["out_size"] == 8
    # forward and reverse maps agree to rounding; a map value at a threshold could flip a vote
    assert (own.votes[layer] - given.votes[layer]).abs().sum() <= 2


def test_top_ranks_locally_active_channels():
    scores = {"a": torch.tensor([[0.2, 0.8], [0.5, 0.5]], dtype=torch.float64),
              "b": torch.tensor([[0.0, 1.0], [0.9, 0.1], [0.5, 0.5]], dtype=torch.float64)}
    result = StyleSpaceChannels(
        generator_name="g", layers={"a": 2, "b": 3}, regions=("rest", "eyes"), scores=scores,
        votes={k: (v * 10).long() for k, v in scores.items()}, present=torch.tensor([10, 10]),
        sigma={"a": torch.ones(2), "b": torch.ones(3)}, mean={"a": torch.zeros(2), "b": torch.zeros(3)}, n_samples=10,
    )
    assert result.top("eyes") == [("b", 0, 1.0), ("a", 0, 0.8), ("a", 1, 0.5), ("b", 2, 0.5)]
    assert result.top("eyes", 2) == [("b", 0, 1.0), ("a", 0, 0.8)]
    assert result.top("rest", threshold=0.0)[:2] == [("b", 1, 0.9), ("a", 1, 0.5)]
    assert result.region_scores("eyes")["b"].tolist() == [1.0, 0.1, 0.5]
    with pytest.raises(InvalidInputError, match="region 'ears' not found; regions: rest, eyes"):
        result.top("ears")
    with pytest.raises(InvalidInputError, match=r"k must be an int in \[1, inf\]"):
        result.top("eyes", 0)


def test_stylespace_on_label_maps_finds_channels():
    G = load("genforce-stylegan")
    z = G.sample_latents(3, seed=9)
    labels = torch.zeros(3, 32, 32, dtype=torch.long)
    labels[:, :, 16:] = 1  # right half
    labels[:, 24:, :8] = 2
    result = stylespace(G, z, labels, region_names=["left", "right", "corner"], layers="synthesis.layer7.style",
                        out_size=8, method="reverse")
    assert result.regions == ("left", "right", "corner")
    assert result.present.tolist() == [3, 3, 3]
    table = result.scores["synthesis.layer7.style"]
    assert table.shape == (64, 3)  # the AdaIN's 32 scales and 32 shifts
    torch.testing.assert_close(table.sum(dim=1), torch.ones(64, dtype=torch.float64))
    top = result.top("right", 1, threshold=0.0)
    assert top[0][2] == float(table[:, 1].max())


# ------------------------------------------------------------- inversions
def test_edit_styles_on_an_inversion():
    G = load("stylegan2", latent_space="w")
    w = G.sample_latents(2, seed=10)
    early, late = "synthesis.b8.conv1.affine", "synthesis.b32.conv0.affine"
    sigma = {early: torch.ones(64), late: torch.ones(64)}
    inversion = Inversion(latents=w, layer="synthesis.b16", features=G.features(w, "synthesis.b16"), generator_name=G.name)
    edits = [(early, 4, 2.0), (late, 11, -3.0)]
    assert torch.equal(edit_styles(G, inversion, [(early, 4, 0.0), (late, 11, 0.0)], sigma=sigma), G.synthesize(inversion))
    # the inversion's features are the generator's own, so an edit is the latents' edit
    torch.testing.assert_close(edit_styles(G, inversion, edits, sigma=sigma), edit_styles(G, w, edits, sigma=sigma),
                               rtol=0, atol=1e-5)
    # moved latents (a latent-direction edit first): the photo's residual is kept, and the style edit adds to it
    moved = panda_viz.apply_direction(inversion, torch.linspace(-1, 1, 64), 2.0)
    assert torch.equal(edit_styles(G, moved, [(early, 4, 0.0)], sigma=sigma), G.synthesize(moved))
    torch.testing.assert_close(edit_styles(G, moved, edits, sigma=sigma),
                               edit_styles(G, moved.latents, edits, sigma=sigma), rtol=0, atol=1e-5)
    # tuned parameters after the layer: the edit runs on the tuned copy
    name = "synthesis.b32.conv1.weight"
    tuned = Inversion(latents=w, layer="synthesis.b16", features=inversion.features,
                      tuned={name: G.module.get_parameter(name) * 1.1}, generator_name=G.name)
    assert torch.equal(edit_styles(G, tuned, [(late, 11, 0.0)], sigma=sigma), G.synthesize(tuned))
    moved = edit_styles(G, tuned, [(late, 11, -3.0)], sigma=sigma)
    assert not torch.allclose(moved, G.synthesize(tuned))


# ------------------------------------------------------------- bad input
def test_non_style_generators_are_refused(dcgan):
    pggan = panda_viz.load_generator(data_folder("genforce-pggan") / "checkpoint.pth")
    for G in (dcgan, pggan):
        z = G.sample_latents(2, seed=0)
        with pytest.raises(InvalidTypeError, match=rf"StyleSpace needs a style-based generator .*generator {G.name!r}"):
            stylespace(G, z, {"eyes": torch.ones(G.image_shape[1:])})
        with pytest.raises(InvalidTypeError, match="StyleSpace needs a style-based generator"):
            edit_styles(G, z, [], sigma=None)


def _no_hooks(module):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_bad_input_is_refused_before_any_work():
    G = load("genforce-stylegan2")
    z = G.sample_latents(2, seed=0)
    masks = _face_regions(G)
    layer = _last(G)
    with pytest.raises(InvalidInputError, match=r"mask 'eyes' of shape \(32, 32\)"):
        stylespace(G, z, {"eyes": torch.ones(64, 64)})
    bad = z.clone()
    bad[1, 3] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN or infinite values in sample"):
        stylespace(G, bad, masks)
    with pytest.raises(NonFiniteError):
        edit_styles(G, bad, [(layer, 0, 1.0)], sigma=None)
    with pytest.raises(InvalidInputError, match="style layer 'synthesis.layer9.style' not found.*synthesis.layer0.style \\(64\\)"):
        stylespace(G, z, masks, layers=["synthesis.layer9.style"])
    with pytest.raises(InvalidInputError, match="out_size 5 must divide the image size 32×32"):
        stylespace(G, z, masks, out_size=5)
    with pytest.raises(InvalidInputError, match="Invalid method"):
        stylespace(G, z, masks, method="numerical")
    with pytest.raises(InvalidInputError, match=r"discount \(official discount_factor 2\) must be a number in \(0.0, inf\]"):
        stylespace(G, z, masks, discount=0)
    with pytest.raises(InvalidTypeError, match="not an Inversion"):
        stylespace(G, Inversion(latents=z), masks)
    with pytest.raises(InvalidInputError, match=r"channel of style layer .* must be an int in \[0, 31\]"):
        edit_styles(G, z, [(layer, 32, 1.0)], sigma=None)
    with pytest.raises(NonFiniteError, match="alpha"):
        edit_styles(G, z, [(layer, 0, float("inf"))], sigma=None)
    with pytest.raises(InvalidInputError, match="sigma has no entry for style layer"):
        edit_styles(G, z, [(layer, 0, 1.0)], sigma={"synthesis.layer0.style": torch.ones(64)})
    with pytest.raises(InvalidInputError, match=r"alpha must be a number or a tensor of shape \(2,\)"):
        edit_styles(G, z, [(layer, 0, torch.ones(3))], sigma=None)
    with pytest.raises(InvalidInputError, match="each edit is \\(layer, channel, alpha\\)"):
        edit_styles(G, z, [(layer, 0)], sigma=None)
    assert _no_hooks(G.module)


def test_random_noise_is_refused():
    G = load("stylegan2", noise_mode="random")
    z = G.sample_latents(2, seed=0)
    with pytest.raises(InvalidInputError, match="different images for the same latent.*noise_mode='const'"):
        stylespace(G, z, _face_regions(G), layers=_last(G))


def test_channels_of_another_generator_are_refused():
    G = load("stylegan2", latent_space="w")
    other = StyleSpaceChannels(generator_name="other", layers={}, regions=(REST,), scores={}, votes={},
                               present=torch.zeros(1), sigma={}, mean={}, n_samples=0)
    with pytest.raises(InvalidInputError, match="found on generator 'other'"):
        edit_styles(G, G.sample_latents(1, seed=0), [], sigma=other)
