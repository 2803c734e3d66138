"""The estimator API: validation, streaming, transform/reconstruct/refine, fit_generator, forwarding."""

from __future__ import annotations

import inspect

import pytest
import torch

import panda_viz
from panda_viz import PandA, panda
from panda_viz.decomposition import estimator, fit_generator, fold, hosvd, unfold
from panda_viz.exceptions import InvalidInputError, InvalidTypeError, NotFittedError


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"solver": "pdg"}, ValueError,
         r"Invalid solver: got 'pdg' instead of one of \{'projective', 'pgd', 'adam'\}; did you mean 'pgd'\?"),
        ({"solver": None}, InvalidTypeError, "Invalid solver: got None instead of one of"),
        ({"appearance_basis": "ortho"}, ValueError, r"Invalid appearance_basis: got 'ortho' instead of one of \{'orthonormal', 'free'\}"),
        ({"init": "svd"}, ValueError, "Invalid init: got 'svd'"),
        ({"n_parts": 0}, InvalidInputError, r"n_parts must be an int in \[1, inf\]; got 0"),
        ({"n_parts": 13}, ValueError, r"n_parts must be in \[1, S\] with S = H\*W = 3\*4 = 12 spatial positions; got 13"),
        ({"n_parts": 2.5}, InvalidTypeError, "n_parts must be an int; got float 2.5"),
        ({"n_appearances": 6}, ValueError, r"n_appearances must be in \[1, C\] with C = 5 channels; got 6"),
        ({"max_iter": 0}, ValueError, r"max_iter must be an int in \[1, inf\]; got 0"),
        ({"tol": -1.0}, ValueError, r"tol must be a number in \[0.0, inf\]; got -1"),
        ({"tol": float("nan")}, ValueError, "tol must be a finite number; got nan"),
        ({"learning_rate": 0.0}, ValueError, r"learning_rate must be a number in \(0.0, inf\]; got 0"),
        ({"batch_size": 0}, ValueError, r"batch_size must be an int in \[1, inf\]; got 0"),
        ({"random_state": "x"}, InvalidTypeError, "random_state must be None, an int >= 0 or a torch.Generator; got str 'x'"),
        ({"random_state": -1}, InvalidInputError, r"random_state must be None, an int in \[0, 2\*\*63 - 1\]"),
        ({"verbose": "yes"}, InvalidTypeError, "verbose must be True, False or None; got str 'yes'"),
    ],
)
def test_bad_parameters(small_Z, params, error, match):
    with pytest.raises(error, match=match):
        PandA(**params).fit(small_Z)


def test_bad_features(small_Z):
    with pytest.raises(ValueError, match=r"must be 4-D \(N, C, H, W\); got a 3-D tensor of shape \(30, 5, 12\)"):
        PandA(3).fit(small_Z.flatten(2))
    with pytest.raises(TypeError, match="floating-point"):
        PandA(3).fit(small_Z.long())
    with pytest.raises(TypeError, match="torch.Tensor"):
        PandA(3).fit(small_Z.numpy())
    bad = small_Z.clone()
    bad[7, 1, 0, 0] = float("nan")
    bad[9, 0, 2, 1] = float("inf")
    with pytest.raises(ValueError, match=r"NaN/Inf values in sample\(s\) 7, 9"):
        PandA(3).fit(bad)
    # in a stream the index counts from the start of the whole stream
    stream = [small_Z[:5], bad[5:10]]
    with pytest.raises(ValueError, match=r"NaN/Inf values in sample\(s\) 7, 9"):
        PandA(3).fit(stream)
    with pytest.raises(ValueError, match=r"expected .*got \(5, 5, 3, 3\)"):
        PandA(3).fit([small_Z[:5], small_Z[:5, :, :, :3]])
    with pytest.raises(ValueError, match="yielded no batches"):
        PandA(3).fit([])


@pytest.mark.filterwarnings("ignore::panda_viz.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["projective", "pgd"])
def test_progress_bars_switch_off_and_on(capsys, solver):
    """verbose=False: no bar even over 1000 samples; True: a bar even for a few."""
    Z = torch.rand(1000, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    PandA(2, solver=solver, max_iter=20, verbose=False, random_state=0).fit(Z)
    assert capsys.readouterr().err == ""
    PandA(2, solver=solver, max_iter=20, verbose=True, random_state=0).fit(Z[:10])
    assert "Gram pass" in capsys.readouterr().err


def test_apply_to_other_shape_and_unfitted(small_Z):
    for method in (PandA(3).transform, PandA(3).refine, PandA(3).score):
        with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
            method(small_Z)
    with pytest.raises(AttributeError, match="not fitted"):  # a NotFittedError is an AttributeError too
        PandA(3).n_parts_
    m = PandA(3, random_state=0).fit(small_Z)
    other = torch.zeros(2, 5, 4, 4)
    for method in (m.transform, m.reconstruct, m.refine, m.score):
        with pytest.raises(ValueError, match=r"of shape \(N, 5, 3, 4\) expected .*got \(2, 5, 4, 4\)"):
            method(other)
    with pytest.raises(ValueError, match=r"of shape \(N, 5, 3, 4\) expected .*got \(2, 5, 4, 4\)"):
        m.score([small_Z[:4], other])  # batches are checked too, not only a single tensor


def test_transform_reconstruct(small_Z):
    m = PandA(3, random_state=0).fit(small_Z)
    lam = m.transform(small_Z)
    assert lam.shape == (30, 5, 3) and lam.dtype == small_Z.dtype
    A, P = m.appearances_, m.parts_.flatten(1).T
    torch.testing.assert_close(lam[4], A.T @ small_Z[4].flatten(1) @ P)
    rec = m.reconstruct(small_Z)
    assert rec.shape == small_Z.shape
    torch.testing.assert_close(rec[4].flatten(1), A @ lam[4] @ P.T)
    rel = float(((small_Z - rec) ** 2).sum() / (small_Z**2).sum())
    assert rel == pytest.approx(m.objective_, rel=1e-4)
    assert m.score(small_Z) == pytest.approx(m.objective_, rel=1e-6)


@pytest.mark.parametrize("params", [{}, {"n_appearances": 3}, {"appearance_basis": "free"}])
def test_streamed_fit_equals_in_memory(small_Z, params):
    full = PandA(3, random_state=0, **params).fit(small_Z)
    batches = [small_Z[i : i + 7] for i in range(0, 30, 7)]
    streamed = PandA(3, random_state=0, **params).fit(batches)
    torch.testing.assert_close(streamed.parts_, full.parts_, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(streamed.appearances_, full.appearances_, rtol=1e-5, atol=1e-6)
    assert streamed.objective_ == pytest.approx(full.objective_, rel=1e-9)
    assert streamed.n_samples_ == 30
    # batch order does not matter beyond round-off (float32's: a block's products are
    # taken in the input's precision, the blocks summed in float64)
    reordered = PandA(3, random_state=0, **params).fit(batches[::-1])
    assert reordered.objective_ == pytest.approx(full.objective_, rel=1e-6)


def test_one_shot_iterator(small_Z):
    one_shot = iter([small_Z[:10], small_Z[10:]])
    m = PandA(3, random_state=0).fit(one_shot)  # the default needs one pass
    assert m.n_samples_ == 30
    with pytest.raises(TypeError, match="one-shot iterator"):
        PandA(3, n_appearances=2, random_state=0).fit(iter([small_Z[:10], small_Z[10:]]))


def test_class_forwards_every_argument(monkeypatch, small_Z):
    class_params = list(inspect.signature(PandA).parameters)
    func_params = [p for p in inspect.signature(panda).parameters if p != "Z"]
    assert class_params == func_params
    seen = {}
    values = {name: object() for name in class_params}

    def fake(Z, **kwargs):
        seen.update(kwargs)
        raise StopIteration

    monkeypatch.setattr(estimator, "panda", fake)
    with pytest.raises(StopIteration):
        PandA(**values).fit(small_Z)
    assert seen.keys() == values.keys() and all(seen[k] is values[k] for k in values)


def test_refine(small_Z):
    m = PandA(3, random_state=0).fit(small_Z)
    one = m.refine(small_Z[0])
    assert one.shape == (3, 3, 4) and bool((one >= 0).all())
    torch.testing.assert_close(m.refine(small_Z[:1]), one)
    many = m.refine(small_Z[:4])
    assert many.shape == (4, 3, 3, 4)
    torch.testing.assert_close(many[0], one, rtol=1e-5, atol=1e-6)

    def err(P, z):
        z = z.flatten(1).double()
        A = m.appearances_.double()
        P = P.flatten(1).T.double()
        return float(((z - A @ A.T @ z @ P @ P.T) ** 2).sum())

    glob = m.parts_
    free = m.refine(small_Z[0], proximity=0.0, max_iter=300)
    # refinement fits the sample better than the global parts; the anchor keeps it closer to them
    assert err(free, small_Z[0]) <= err(one, small_Z[0]) <= err(glob, small_Z[0])
    assert (one - glob).norm() <= (free - glob).norm()


def test_fit_generator_streams_and_records(dcgan):
    m = fit_generator(dcgan, "main.5", n_samples=24, seed=1, batch_size=10, n_parts=4, random_state=0)
    assert m.layer_ == "main.5" and m.generator_ == dcgan.name and m.n_samples_ == 24
    Z = dcgan.features(dcgan.sample_latents(24, seed=1), "main.5")
    ref = PandA(4, random_state=0).fit(Z)
    torch.testing.assert_close(m.parts_, ref.parts_, rtol=1e-4, atol=1e-5)
    assert panda_viz.fit_generator is fit_generator
    with pytest.raises(ValueError, match="layer 'main.55' not found"):
        fit_generator(dcgan, "main.55", n_samples=4)


def test_fit_generator_refuses_bad_ranks_before_extracting(dcgan, monkeypatch):
    def no_features(*args, **kwargs):
        raise AssertionError("features were extracted before the ranks were checked")

    monkeypatch.setattr(dcgan, "iter_features", no_features)
    monkeypatch.setattr(dcgan, "features", no_features)
    with pytest.raises(ValueError, match=r"n_parts must be in \[1, S\] with S = H\*W = 8\*8 = 64 spatial positions; got 65"):
        fit_generator(dcgan, "main.5", n_samples=20_000, n_parts=65)
    with pytest.raises(ValueError, match=r"n_appearances must be in \[1, C\] with C = 256 channels; got 300"):
        fit_generator(dcgan, "main.5", n_samples=20_000, n_appearances=300)
    with pytest.raises(ValueError, match="Invalid solver"):
        fit_generator(dcgan, "main.5", n_samples=20_000, solver="sgd")


def test_real_features_parts_cover_the_face(dcgan_main5):
    m = PandA(8, random_state=0).fit(dcgan_main5)
    assert 0.3 < m.objective_ < 0.8
    # parts are near-orthogonal and mostly disjoint, as the objective encourages
    P = m.parts_.flatten(1).double()
    Pn = P / P.norm(dim=1, keepdim=True)
    off = Pn @ Pn.T - torch.eye(8, dtype=torch.float64)
    assert off.abs().max() < 0.35


def test_unfold_fold_hosvd():
    X = torch.arange(24.0).reshape(2, 3, 4)
    assert unfold(X, 1).shape == (3, 8)
    torch.testing.assert_close(unfold(X, 1)[:, 0], X[0, :, 0])
    for mode in range(3):
        torch.testing.assert_close(fold(unfold(X, mode), mode, X.shape), X)
    g = torch.Generator().manual_seed(0)
    T = torch.randn(5, 6, 7, generator=g, dtype=torch.float64)
    core, factors = hosvd(T)
    back = core
    for mode, U in enumerate(factors):
        back = torch.movedim(torch.movedim(back, mode, -1) @ U.T, -1, mode)
    torch.testing.assert_close(back, T)
    with pytest.raises(ValueError, match=r"mode of a 3-D tensor must be an int in \[-3, 2\]"):
        unfold(X, 3)
