"""Properties of the solvers: gradients, monotonicity, non-negativity, optimality, recovery."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from panda_viz import ConvergenceWarning, PandA, panda
from panda_viz.decomposition._init import random_parts
from panda_viz.decomposition._pgd import grad_appearances, grad_parts
from panda_viz.decomposition._projective import parts_objective, solve_parts
from panda_viz.exceptions import NonFiniteError

SOLVERS = ["projective", "pgd", "adam"]
FAST = {"projective": {}, "pgd": {"max_iter": 300, "batch_size": None}, "adam": {"max_iter": 300, "batch_size": None, "learning_rate": 1e-2}}


def eq3(Z, A, P):
    """The slow reference loss: sum_i ||Z_i - A A^T Z_i P P^T||^2, literally."""
    z = Z.flatten(2).double()
    A, P = A.double(), P.double()
    return sum(float(((zi - A @ A.T @ zi @ P @ P.T) ** 2).sum()) for zi in z)


def test_hand_derived_gradients_equal_autograd():
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(5, 7, 9, generator=g, dtype=torch.float64)
    A = torch.randn(7, 4, generator=g, dtype=torch.float64).requires_grad_()
    P = torch.rand(9, 3, generator=g, dtype=torch.float64).requires_grad_()
    loss = ((Z - A @ A.T @ Z @ P @ P.T) ** 2).sum()
    gA, gP = torch.autograd.grad(loss, (A, P))
    torch.testing.assert_close(grad_parts(Z, A.detach(), P.detach()), gP, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_appearances(Z, A.detach(), P.detach()), gA, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_parts_nonnegative_shapes_and_objective(solver, small_Z):
    m = PandA(3, solver=solver, random_state=0, **FAST[solver]).fit(small_Z)
    N, C, H, W = small_Z.shape
    assert m.parts_.shape == (3, H, W) and m.parts_.dtype == torch.float32 and m.parts_.device.type == "cpu"
    assert m.appearances_.shape == (C, C) and m.appearances_.dtype == torch.float32
    assert bool((m.parts_ >= 0).all())
    assert m.feature_shape_ == (C, H, W) and m.n_samples_ == N
    assert m.n_iter_ >= 1 and len(m.loss_history_) >= 1
    # objective_ is Eq. 3 / sum ||Z_i||^2, checked against the literal formula
    ref = eq3(small_Z, m.appearances_, m.parts_.flatten(1).T) / float((small_Z.double() ** 2).sum())
    assert m.objective_ == pytest.approx(ref, rel=1e-4)


def test_projective_steps_never_increase_objective(small_Z):
    z = small_Z.double().flatten(2)
    M = torch.einsum("ncs,nct->st", z, z)
    E = float(torch.trace(M))
    P0 = random_parts(3, M.shape[0], 3, rng=torch.Generator().manual_seed(0))
    seen = []
    res = solve_parts(M[None], None, P0, E, max_iter=200, tol=0.0, callback=lambda it, rel: seen.append(rel.copy()))
    hist = torch.tensor(np.array(res.history))  # (iters + 1, restarts)
    assert res.n_iter == 200 and len(seen) == 200
    increase = (hist[1:] - hist[:-1]).max()
    assert increase <= 1e-12
    # the reported objective is the literal one
    direct = parts_objective(M[None], M[None], res.P, E) / E
    torch.testing.assert_close(direct, res.objective)


@pytest.mark.parametrize("basis", ["orthonormal", "free"])
@pytest.mark.parametrize("n_appearances", [None, 3])
def test_projective_history_monotone_all_variants(small_Z, basis, n_appearances):
    m = PandA(3, n_appearances, appearance_basis=basis, random_state=0).fit(small_Z)
    h = torch.tensor(m.loss_history_)
    assert h[-1] == pytest.approx(m.objective_, rel=1e-9)
    # alternations may restart the inner histories, but never above the previous value
    assert (h[1:] - h[:-1]).max() <= 1e-9


def test_planted_factors_recovered(planted_data):
    Z, A, P = planted_data
    m = PandA(3, random_state=0).fit(Z)
    assert m.objective_ < 1e-8
    # each planted part is matched by one learnt part (cosine ~ 1)
    Pl = m.parts_.flatten(1).double()
    Pl = Pl / Pl.norm(dim=1, keepdim=True)
    cos = Pl @ P
    assert torch.sort(cos.max(dim=0).values).values.min() > 0.999
    assert sorted(cos.argmax(dim=0).tolist()) == [0, 1, 2]


def test_default_within_target_of_algorithm1_on_same_data(small_Z):
    default = PandA(3, random_state=0).fit(small_Z)
    alg1 = PandA(3, solver="pgd", batch_size=None, max_iter=3000, random_state=0).fit(small_Z)
    free = PandA(3, appearance_basis="free", random_state=0).fit(small_Z)
    assert default.objective_ <= alg1.objective_ * 1.02
    assert free.objective_ <= alg1.objective_ * 1.005
    assert free.objective_ <= default.objective_ + 1e-12


def test_free_basis_not_worse_than_orthonormal(dcgan_main5):
    ortho = PandA(8, random_state=0).fit(dcgan_main5)
    free = PandA(8, appearance_basis="free", random_state=0, max_iter=200).fit(dcgan_main5)
    assert free.objective_ <= ortho.objective_ + 1e-9
    assert 0 < ortho.objective_ < 1


def test_convergence_warning_when_max_iter_reached(small_Z):
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        PandA(3, max_iter=2, tol=0.0, random_state=0).fit(small_Z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PandA(3, random_state=0).fit(small_Z)


@pytest.mark.parametrize("solver, learning_rate", [("pgd", 1e3), ("adam", 1e12)])
def test_a_diverging_solver_raises_a_non_finite_error(small_Z, solver, learning_rate):
    # a NonFiniteError is a ValueError: the learning rate given was too large for the data
    with pytest.raises(NonFiniteError, match=rf"solver '{solver}' diverged at iteration \d+ with learning_rate=\S+; use a smaller one"):
        PandA(3, solver=solver, learning_rate=learning_rate, max_iter=100, random_state=0).fit(small_Z)


@pytest.mark.filterwarnings("ignore:.*reached max_iter=5:panda_viz.exceptions.ConvergenceWarning")
def test_convergence_warning_names_the_alternation_cap(small_Z, monkeypatch):
    from panda_viz.decomposition import _projective

    monkeypatch.setattr(_projective, "MAX_OUTER", 2)
    with pytest.warns(ConvergenceWarning, match=r"made 2 alternations between the appearance and parts steps"):
        PandA(3, n_appearances=2, max_iter=5, tol=0.0, random_state=0).fit(small_Z)


@pytest.mark.parametrize("solver", SOLVERS)
def test_deterministic_with_random_state(solver, small_Z):
    a = PandA(3, solver=solver, random_state=3, **FAST[solver]).fit(small_Z)
    b = PandA(3, solver=solver, random_state=3, **FAST[solver]).fit(small_Z)
    assert torch.equal(a.parts_, b.parts_) and torch.equal(a.appearances_, b.appearances_)
    assert a.loss_history_ == b.loss_history_


def test_function_agrees_with_class(small_Z):
    r = panda(small_Z, 3, random_state=0)
    m = PandA(3, random_state=0).fit(small_Z)
    assert torch.equal(r.parts, m.parts_) and torch.equal(r.appearances, m.appearances_)
    assert r.objective == m.objective_ and r.loss_history == m.loss_history_ and r.n_iter == m.n_iter_


def test_algorithm1_collapse_to_zero_parts_is_reported(small_Z):
    """Too long a step projects all of P to 0, the trivial solution: say so, don't return it silently."""
    with pytest.warns(ConvergenceWarning, match=r"collapsed to all-zero parts \(relative objective 1.0000\) with learning_rate=1"):
        model = PandA(3, solver="pgd", max_iter=50, learning_rate=1.0, random_state=0).fit(small_Z)
    assert model.objective_ == pytest.approx(1.0) and not (model.parts_ > 0).any()
