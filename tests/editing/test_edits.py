"""Local edits, masks, removal and ranking on the real embedded generator with hand-made factors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from factors_helpers import LAYER, HandFactors, box, make_factors

from panda_viz.editing.edits import EditTerm, edit_images, local_edit, part_maps
from panda_viz.editing.ranking import default_alpha, rank_appearances
from panda_viz.editing.removal import (
    propose_background_appearance,
    removal_edit,
    remove_images,
)
from panda_viz.editing.saliency import localize
from panda_viz.exceptions import InvalidIndexError, InvalidInputError, InvalidTypeError


@pytest.fixture(scope="module")
def z(dcgan):
    return dcgan.sample_latents(4, seed=21)


def _inside_outside(before, after, region64):
    d = (after - before).pow(2).mean(1)  # (N, 64, 64)
    return d[:, region64].mean().item(), d[:, ~region64].mean().item()


CENTRE64 = box(64, 64, slice(16, 48), slice(16, 48)).bool()


# ------------------------------------------------------------------------ parts and terms
def test_part_masks_normalise_each_part_to_unit_range(model):
    p = part_maps(model)
    assert p.shape == (3, 8, 8)
    assert torch.equal(p.amax((1, 2)), torch.ones(3)) and torch.equal(p.amin((1, 2)), torch.zeros(3))
    assert torch.equal(p[0], box(8, 8, slice(2, 6), slice(2, 6)))
    per_sample = part_maps(torch.rand(5, 3, 8, 8) * 4 + 1)
    assert per_sample.shape == (5, 3, 8, 8)
    assert torch.allclose(per_sample.amax((2, 3)), torch.ones(5, 3))


def test_local_edit_is_the_sum_of_rank_one_terms(model):
    A = model.appearances_
    delta = local_edit(model, [EditTerm(0, 3, 2.0), (1, 7, -1.5)])
    expected = 2.0 * A[:, 3, None, None] * part_maps(model)[0] - 1.5 * A[:, 7, None, None] * part_maps(model)[1]
    assert delta.shape == (256, 8, 8)
    assert torch.allclose(delta, expected, atol=1e-6)
    single = local_edit(model, (0, 3, 2.0))
    assert torch.allclose(single, 2.0 * A[:, 3, None, None] * part_maps(model)[0])


def test_a_tuple_of_parts_edits_their_union(model):
    delta = local_edit(model, EditTerm((1, 2), 0, 1.0))
    union = part_maps((model.parts_[1] + model.parts_[2])[None])[0]
    assert torch.allclose(delta, model.appearances_[:, 0, None, None] * union, atol=1e-6)
    assert EditTerm([1, 2], 0, 1).part == (1, 2)


def test_edit_term_label():
    assert EditTerm(3, 12, 4).label() == "part 3 × appearance 12, α = +4"
    assert EditTerm(None, 1, -0.5).label() == "mask × appearance 1, α = -0.5"


def test_alpha_zero_gives_exactly_the_original_images(dcgan, model, z):
    original = dcgan.synthesize(z)
    edited = edit_images(dcgan, z, model, [EditTerm(0, 1, 0.0), EditTerm(2, 9, 0.0)])
    assert torch.equal(edited, original)


def test_an_edit_confined_to_a_part_changes_mostly_that_part(dcgan, model, z):
    original = dcgan.synthesize(z)
    edited = edit_images(dcgan, z, model, EditTerm(0, 1, 8.0))
    inside, outside = _inside_outside(original, edited, CENTRE64)
    assert inside > 0.01
    assert inside > 8 * outside


def test_a_feature_sized_mask_stands_in_for_a_part(model):
    mask = box(8, 8, slice(2, 6), slice(2, 6))
    by_mask = local_edit(model, EditTerm(None, 4, 3.0), mask=mask)
    by_part = local_edit(model, EditTerm(0, 4, 3.0))
    assert torch.equal(by_mask, by_part)
    assert torch.equal(local_edit(model, EditTerm(None, 4, 3.0), mask=mask.bool().numpy()), by_part)


def test_an_image_sized_mask_is_resampled_to_the_layer(dcgan, model, z):
    by_image_mask = local_edit(model, EditTerm(None, 4, 3.0), mask=CENTRE64)
    assert torch.allclose(by_image_mask, local_edit(model, EditTerm(0, 4, 3.0)))
    # a half-covered position gets half the edit (area averaging)
    half = torch.zeros(64, 64)
    half[0:8, 0:4] = 1.0
    resampled = local_edit(model, EditTerm(None, 0, 1.0), mask=half) / model.appearances_[:, 0, None, None]
    assert torch.allclose(resampled[0, 0, 0], torch.tensor(0.5)) and resampled[0].sum().item() == pytest.approx(0.5)
    images = edit_images(dcgan, z, model, EditTerm(None, 1, 8.0), mask=CENTRE64)
    assert torch.allclose(images, edit_images(dcgan, z, model, EditTerm(0, 1, 8.0)), atol=1e-5)


def test_a_part_and_a_mask_in_one_edit(model):
    mask = box(8, 8, slice(0, 8), slice(0, 1))
    delta = local_edit(model, [EditTerm(1, 2, 1.0), EditTerm(None, 3, 2.0)], mask=mask)
    expected = local_edit(model, EditTerm(1, 2, 1.0)) + 2.0 * model.appearances_[:, 3, None, None] * mask
    assert torch.allclose(delta, expected)


def test_per_sample_parts_and_masks_give_per_sample_edits(dcgan, model, z):
    refined = torch.stack([model.parts_ * (i + 1) for i in range(4)])
    refined[2, 0] = box(8, 8, slice(0, 4), slice(0, 8))
    delta = local_edit(model, EditTerm(0, 5, 1.5), parts=refined)
    assert delta.shape == (4, 256, 8, 8)
    for i in range(4):
        assert torch.allclose(delta[i], local_edit(model, EditTerm(0, 5, 1.5), parts=refined[i]))
    masks = torch.zeros(4, 8, 8)
    for i in range(4):
        masks[i, i, :] = 1
    per_mask = local_edit(model, EditTerm(None, 5, 1.0), mask=masks)
    assert per_mask.shape == (4, 256, 8, 8) and torch.equal(per_mask[3, :, 3], per_mask[3, :, 3])
    assert per_mask[3, :, :3].abs().sum() == 0
    images = edit_images(dcgan, z, model, EditTerm(0, 5, 1.5), parts=refined)
    assert torch.allclose(images[1], edit_images(dcgan, z[1:2], model, EditTerm(0, 5, 1.5), parts=refined[1])[0], atol=1e-5)


# ------------------------------------------------------------------------ removal
def test_background_proposal_follows_the_frame_rule(Z):
    """Synthetic features, identity appearances: channel 2 lives on the frame, channel 1 in the centre."""
    N, H, W = 6, 8, 8
    feats = torch.rand(N, 4, H, W, generator=torch.Generator().manual_seed(0)) * 0.1
    frame = torch.ones(H, W, dtype=torch.bool)
    frame[1:-1, 1:-1] = False
    feats[:, 2][:, frame] += 1.0
    feats[:, 1, 2:6, 2:6] += 1.0
    synthetic = HandFactors(parts_=torch.ones(1, H, W), appearances_=torch.eye(4))
    best, scores = propose_background_appearance(synthetic, feats, candidates=4, return_scores=True)
    assert best == 2
    assert scores.shape == (4,) and scores[2] > 0.9 and scores[1] < -0.9
    assert propose_background_appearance(synthetic, feats, candidates=[0, 1]) in (0, 1)
    # an int n means the first n: of a model with 4 appearances, the default 16 tries all 4
    best, scores = propose_background_appearance(synthetic, feats, return_scores=True)
    assert best == 2 and scores.shape == (4,)


def test_background_proposal_on_real_features(model, Z):
    best, scores = propose_background_appearance(model, Z, return_scores=True)
    assert 0 <= best < 16 and scores.shape == (16,)
    assert best == int(scores.argmax())


def test_removal_add_is_the_papers_rank_one_edit(model, Z):
    b = propose_background_appearance(model, Z)
    delta = removal_edit(model, Z[:5], 0, b)
    m = torch.einsum("c,nchw->nhw", model.appearances_[:, b], Z[:5])
    r = part_maps(model)[0]
    alpha = m.flatten(1).amax(1) - (m * r).sum((1, 2)) / r.sum()
    assert torch.allclose(delta, alpha[:, None, None, None] * model.appearances_[:, b, None, None] * r, atol=1e-5)
    fixed = removal_edit(model, Z[:5], 0, b, alpha=3.0)
    assert torch.allclose(fixed, local_edit(model, EditTerm(0, b, 3.0)).expand(5, -1, -1, -1), atol=1e-6)


def test_removal_replace_puts_the_images_background_in_the_region(model, Z):
    b = 2
    delta = removal_edit(model, Z[:3], 0, b, method="replace")
    inside = (Z[:3] + delta)[:, :, 2:6, 2:6]
    mask = localize(model, Z[:3], [b], thresholds=torch.einsum("c,nchw->", model.appearances_[:, b], Z[:3]) / (3 * 64))[:, 0]
    for i in range(3):
        mean_fibre = Z[i][:, mask[i]].mean(1)
        assert torch.allclose(inside[i], mean_fibre[:, None, None].expand(-1, 4, 4), atol=1e-4)
    assert delta[:, :, :2].abs().max() == 0  # nothing outside the region


def test_removal_changes_the_region_more_than_the_outside(dcgan, model, z, Z):
    original = dcgan.synthesize(z)
    b = propose_background_appearance(model, Z)
    for method in ("add", "replace"):
        removed = remove_images(dcgan, z, model, 0, b, method=method)
        inside, outside = _inside_outside(original, removed, CENTRE64)
        assert inside > 3 * outside, method
    by_mask = remove_images(dcgan, z, model, CENTRE64, b)
    assert torch.allclose(by_mask, remove_images(dcgan, z, model, 0, b), atol=1e-5)


# ------------------------------------------------------------------------ ranking
def test_ranking_is_a_permutation_with_descending_scores(dcgan, model, z):
    z2 = z[:2]
    ranking = rank_appearances(dcgan, z2, model, 0, candidates=12, alpha=6.0)
    assert sorted(ranking.appearances.tolist()) == list(range(12))
    assert torch.all(ranking.scores[:-1] >= ranking.scores[1:])
    assert set(ranking.signs.tolist()) <= {-1.0, 1.0} and ranking.alpha == 6.0
    # the score of the winner is the documented rule, recomputed directly
    j, sign = int(ranking.appearances[0]), float(ranking.signs[0])
    before = dcgan.synthesize(z2)
    after = edit_images(dcgan, z2, model, EditTerm(0, j, 6.0 * sign))
    d = (after - before).pow(2).mean(1)
    w = F.interpolate(part_maps(model)[0][None, None], size=(64, 64), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)
    direct = ((d * w).sum((1, 2)) / w.sum() - (d * (1 - w)).sum((1, 2)) / (1 - w).sum()).mean()
    assert ranking.scores[0].item() == pytest.approx(direct.item(), rel=1e-3, abs=1e-6)
    terms = ranking.terms(0, top=2)
    assert terms[0] == EditTerm(0, j, 6.0 * sign) and len(terms) == 2


def test_ranking_subset_and_single_sign(dcgan, model, z):
    ranking = rank_appearances(dcgan, z[:1], model, 2, candidates=[5, 1, 9], both_signs=False)
    assert sorted(ranking.appearances.tolist()) == [1, 5, 9]
    assert torch.all(ranking.signs == 1) and ranking.alpha > 0


def test_candidates_as_an_int_mean_the_first_n_in_ranking_and_proposal_alike(dcgan, model, z, Z):
    three = HandFactors(parts_=model.parts_, appearances_=model.appearances_[:, :3])
    ranking = rank_appearances(dcgan, z[:1], three, 0, candidates=16, both_signs=False)
    assert sorted(ranking.appearances.tolist()) == [0, 1, 2]  # the first 16 of 3: all of them
    _, scores = propose_background_appearance(three, Z[:8], candidates=16, return_scores=True)
    assert scores.shape == (3,)
    for call in (lambda: rank_appearances(dcgan, z[:1], three, 0, candidates=0),
                 lambda: propose_background_appearance(three, Z[:8], candidates=0)):
        with pytest.raises(InvalidInputError, match=r"candidates \(the first n appearances\) must be an int in \[1, inf\]; got 0"):
            call()


# ------------------------------------------------------------------------ bad input
def test_part_out_of_range_names_the_term_and_the_models_counts(model, dcgan, z):
    counts = r"the model has 3 parts \(0 … 2\) and 256 appearances \(0 … 255\)"
    with pytest.raises(InvalidIndexError, match=rf"edit term part 3 × appearance 0, α = \+1: part 3 out of range; {counts}"):
        local_edit(model, EditTerm(3, 0, 1.0))
    with pytest.raises(IndexError, match=r"edit term parts 0\+-1 × appearance 0, α = \+1: part -1 out of range"):
        local_edit(model, EditTerm((0, -1), 0, 1.0))
    with pytest.raises(InvalidIndexError, match=rf"part 99 and appearance 300 out of range; {counts}"):
        edit_images(dcgan, z[:1], model, [EditTerm(0, 1, 1.0), EditTerm(99, 300, -2.0)])


def test_appearance_out_of_range(model):
    with pytest.raises(IndexError, match=r"edit term part 0 × appearance 300, α = \+1: appearance 300 out of range; "
                                         r"the model has 3 parts"):
        local_edit(model, EditTerm(0, 300, 1.0))


def test_bad_terms():
    with pytest.raises(TypeError, match="EditTerm.part must be an int, a non-empty tuple of ints or None; got 'eyes'"):
        EditTerm("eyes", 0, 1.0)
    with pytest.raises(InvalidTypeError, match="EditTerm.appearance must be an int; got float 1.5"):
        EditTerm(0, 1.5, 1.0)
    with pytest.raises(ValueError, match="alpha must be a finite number; got nan"):
        EditTerm(0, 1, float("nan"))


def test_term_lists(model):
    with pytest.raises(ValueError, match="at least one"):
        local_edit(model, [])
    with pytest.raises(TypeError, match=r"terms must be an EditTerm, a \(part, appearance, alpha\) tuple"):
        local_edit(model, [(0, 1)])


def test_mask_of_the_wrong_shape(model, dcgan, z):
    with pytest.raises(ValueError, match=r"mask of shape \(8, 8\) \(the layer's\) or an integer multiple of it .* got \(10, 12\)"):
        local_edit(model, EditTerm(None, 0, 1.0), mask=torch.ones(10, 12))
    with pytest.raises(ValueError, match=r"got \(2, 3, 8, 8\)"):
        local_edit(model, EditTerm(None, 0, 1.0), mask=torch.ones(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"mask of shape \(8, 8\) \(the layer's\) or \(64, 64\) \(the image's\).*got \(32, 32\)"):
        edit_images(dcgan, z, model, EditTerm(None, 0, 1.0), mask=torch.ones(32, 32))


def test_empty_mask_and_values_outside_unit_range(model):
    with pytest.raises(ValueError, match="mask is empty"):
        local_edit(model, EditTerm(None, 0, 1.0), mask=torch.zeros(64, 64))
    masks = torch.ones(3, 8, 8)
    masks[1] = 0
    with pytest.raises(ValueError, match="mask is empty for sample 1"):
        local_edit(model, EditTerm(None, 0, 1.0), mask=masks)
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]; got values in \[0, 255\]"):
        local_edit(model, EditTerm(None, 0, 1.0), mask=np.full((8, 8), 255, np.uint8) * np.eye(8, dtype=np.uint8))


def test_mask_and_part_none_must_go_together(model):
    with pytest.raises(ValueError, match="has part=None, which needs a mask; got mask=None"):
        local_edit(model, EditTerm(None, 0, 1.0))
    with pytest.raises(ValueError, match="a mask was given but every term names a part"):
        local_edit(model, EditTerm(0, 0, 1.0), mask=torch.ones(8, 8))


def test_model_fitted_at_another_layer(dcgan, z, Z):
    other = make_factors(Z)
    other.layer_ = "main.8"
    with pytest.raises(ValueError, match="the factors were fitted at layer 'main.8'; got layer='main.5'"):
        edit_images(dcgan, z, other, EditTerm(0, 0, 1.0), layer="main.5")
    unlabelled = HandFactors(parts_=other.parts_, appearances_=other.appearances_, layer_=None)
    with pytest.raises(ValueError, match=r"the factors expect features of shape 256×8×8; layer 'main.8' of 'dcgan-digiface' has 128×16×16"):
        edit_images(dcgan, z, unlabelled, EditTerm(0, 0, 1.0), layer="main.8")
    with pytest.raises(ValueError, match=r"layer 'main.55' not found; did you mean 'main.5'[^?]*\? Layers: main.0"):
        edit_images(dcgan, z, unlabelled, EditTerm(0, 0, 1.0), layer="main.55")
    with pytest.raises(ValueError, match="does not record the layer"):
        edit_images(dcgan, z, unlabelled, EditTerm(0, 0, 1.0))


def test_model_fitted_on_another_generator(dcgan, z, Z):
    other = make_factors(Z)
    other.generator_ = "stylegan2-ffhq"
    with pytest.raises(ValueError, match="fitted on generator 'stylegan2-ffhq'; got generator 'dcgan-digiface'"):
        edit_images(dcgan, z, other, EditTerm(0, 0, 1.0))


def test_per_sample_edit_for_the_wrong_number_of_latents(dcgan, model, z):
    with pytest.raises(ValueError, match="per-sample parts or masks for 2 samples; got 4 latents"):
        edit_images(dcgan, z, model, EditTerm(None, 0, 1.0), mask=torch.ones(2, 8, 8))


def test_bad_removal_arguments(model, Z):
    with pytest.raises(ValueError, match=r"Invalid method: got 'erase' instead of one of \{'add', 'replace'\}"):
        removal_edit(model, Z, 0, 1, method="erase")
    with pytest.raises(TypeError, match="region must be a part index, a tuple of part indices, or a mask array; got 'face'"):
        removal_edit(model, Z, "face", 1)
    with pytest.raises(IndexError, match="part index 7 out of range"):
        removal_edit(model, Z, 7, 1)


def test_bad_ranking_arguments(dcgan, model, z):
    with pytest.raises(IndexError, match="part index 5 out of range"):
        rank_appearances(dcgan, z, model, 5, candidates=2)


# ------------------------------------------------------------------------ a real fit
@pytest.fixture(scope="module")
def fitted(dcgan):
    from panda_viz.decomposition import fit_generator

    return fit_generator(dcgan, LAYER, n_samples=64, seed=5, n_parts=4, random_state=0)


def test_real_fit_edits_stay_in_their_part(dcgan, fitted, z):
    """With real factors: the top-ranked edit of each part changes the image mostly inside it."""
    before = dcgan.synthesize(z)
    masks = part_maps(fitted)
    for k in range(fitted.n_parts_):
        ranking = rank_appearances(dcgan, z[:2], fitted, k, candidates=8)
        after = edit_images(dcgan, z, fitted, ranking.terms(k, top=1))
        w = F.interpolate(masks[k][None, None], size=(64, 64), mode="bilinear", align_corners=False)[0, 0]
        d = (after - before).pow(2).mean(1)
        inside, outside = (d * w).sum() / w.sum(), (d * (1 - w)).sum() / (1 - w).sum()
        assert inside > 3 * outside, k


def test_real_fit_per_sample_refined_parts(dcgan, fitted, z):
    Z = dcgan.features(z, LAYER)
    refined = fitted.refine(Z, max_iter=10)
    assert refined.shape == (4, 4, 8, 8)
    images = edit_images(dcgan, z, fitted, EditTerm(0, 1, 2.0), parts=refined)
    one = edit_images(dcgan, z[2:3], fitted, EditTerm(0, 1, 2.0), parts=refined[2])
    assert torch.allclose(images[2:3], one, atol=1e-5)
    assert propose_background_appearance(fitted, Z) in range(16)


def test_default_alpha_is_the_mean_fibre_length(Z):
    assert default_alpha(Z) == pytest.approx(float(torch.linalg.vector_norm(Z, dim=1).mean()), rel=1e-6)
    with pytest.raises(ValueError, match=r"features of shape \(N, C, H, W\) expected; got \(256, 8, 8\)"):
        default_alpha(Z[0])
