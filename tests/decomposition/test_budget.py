"""The projective solver's default iteration budget grows with the number of spatial positions."""

from __future__ import annotations

import warnings

import pytest
import torch

from panda_viz import PandA
from panda_viz.decomposition import _projective
from panda_viz.decomposition._validation import DEFAULT_MAX_ITER, projective_max_iter
from panda_viz.exceptions import ConvergenceWarning


@pytest.mark.parametrize(("S", "budget"), [(1, 1000), (64, 1000), (256, 1000), (1024, 1000), (1025, 2000),
                                           (36 * 36, 2000), (64 * 64, 4000)])
def test_budget_is_1000_up_to_32x32_then_grows_with_S(S, budget):
    assert projective_max_iter(S) == budget
    assert DEFAULT_MAX_ITER["projective"] == 1000


def test_a_fit_on_a_larger_layer_gets_the_larger_budget(monkeypatch):
    budgets = []
    solve = _projective.solve_parts

    def recording(*args, max_iter, **kwargs):
        budgets.append(max_iter)
        return solve(*args, max_iter=3, **kwargs)  # the budget is what is checked, not the solve

    monkeypatch.setattr(_projective, "solve_parts", recording)
    for (H, W), budget in [((33, 33), 2000), ((16, 16), 1000)]:
        Z = torch.rand(3, 2, H, W, generator=torch.Generator().manual_seed(0))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = PandA(n_parts=1, n_restarts=1, random_state=0).fit(Z)
        assert budgets[-1] == budget
        assert model.get_params()["max_iter"] is None  # the estimator's parameter stays as given
        if model.n_iter_ == 3:  # stopped by the recorded budget, so the warning names the real one
            assert any(issubclass(w.category, ConvergenceWarning) and f"max_iter={budget}" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        PandA(n_parts=1, max_iter=7, random_state=0).fit(Z)
    assert budgets[-1] == 7  # an explicit max_iter is used as given
