"""The fit's typed outcome: SolverResult from every driver, stop reasons, timings, PandA.from_factors."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import math
import re
import warnings
from pathlib import Path

import pytest
import torch

import panda_viz.decomposition as decomposition
from panda_viz import ConvergenceWarning, PandA, panda
from panda_viz.decomposition import _projective
from panda_viz.decomposition._gradient import fit_gradient
from panda_viz.decomposition._grams import accumulate_grams
from panda_viz.decomposition._projective import fit_projective
from panda_viz.decomposition._validation import FeatureSource
from panda_viz.decomposition.solver_result import (
    CONVERGED_REASONS,
    STOP_REASONS,
    SolverResult,
)
from panda_viz.exceptions import (
    IncompatibleFactorsError,
    InvalidInputError,
    InvalidTypeError,
)

REPO = Path(__file__).resolve().parents[2]


def drive(Z, solver, **overrides):
    """Run one solver driver directly, with explicit arguments (no parameter dict)."""
    source = FeatureSource(Z)
    grams = accumulate_grams(source, batch_size=256)
    common = dict(n_parts=3, n_appearances=grams.feature_shape[0], init="hosvd", rng=torch.Generator().manual_seed(0), callback=None)
    if solver == "projective":
        kwargs = dict(common, appearance_basis="orthonormal", max_iter=1000, tol=1e-6, n_restarts=4)
        return fit_projective(source, grams, **{**kwargs, **overrides})
    kwargs = dict(common, solver=solver, max_iter=100, learning_rate=None, batch_size=None)
    return fit_gradient(source, grams, **{**kwargs, **overrides})


@pytest.mark.parametrize("solver", ["projective", "pgd", "adam"])
def test_every_driver_returns_a_solver_result(small_Z, solver):
    out = drive(small_Z, solver)
    N, C, H, W = small_Z.shape
    assert type(out) is SolverResult
    assert out.appearances.shape == (C, C) and out.parts.shape == (H * W, 3)
    assert isinstance(out.loss_history, tuple) and len(out.loss_history) >= 1
    assert out.stop_reason == ("tol" if solver == "projective" else "steps") and out.converged
    assert out.capped_solves == 0
    assert set(out.timings) == {"solve", "objective"} and all(t >= 0 for t in out.timings.values())
    if solver == "projective":
        assert out.learning_rate is None and out.timings["objective"] == 0.0
        assert out.n_iter == len(out.loss_history)  # one objective per parts iteration, R_C = C
    else:
        assert out.learning_rate > 0 and out.timings["objective"] > 0 and out.n_iter == 100
        assert out.objective == out.loss_history[-1]


def test_solver_result_is_frozen_and_checks_its_stop_reason(small_Z):
    out = drive(small_Z, "projective")
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.stop_reason = "max_iter"  # type: ignore[misc]
    with pytest.raises(InvalidInputError, match=r"stop_reason must be one of \('tol', .*\); got 'done'"):
        dataclasses.replace(out, stop_reason="done")
    for reason in STOP_REASONS:
        assert dataclasses.replace(out, stop_reason=reason).converged == (reason in CONVERGED_REASONS)


def test_drivers_do_not_warn_the_estimator_does_once(small_Z):
    """The driver reports the cap in its stop reason; panda() alone turns it into a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = drive(small_Z, "projective", max_iter=2, tol=0.0)
    assert out.stop_reason == "max_iter" and out.capped_solves == 1 and not out.converged
    with pytest.warns(ConvergenceWarning) as caught:
        result = panda(small_Z, 3, max_iter=2, tol=0.0, random_state=0)
    assert len(caught) == 1 and result.stop_reason == "max_iter" and result.converged is False


def test_stop_reasons_on_the_fitted_model(small_Z, monkeypatch):
    m = PandA(3, random_state=0).fit(small_Z)
    assert (m.stop_reason_, m.converged_) == ("tol", True)
    with pytest.warns(ConvergenceWarning, match="reached max_iter=2"):
        m = PandA(3, max_iter=2, tol=0.0, random_state=0).fit(small_Z)
    assert (m.stop_reason_, m.converged_) == ("max_iter", False)
    # the alternation cap outranks capped parts solves; both are reported
    monkeypatch.setattr(_projective, "MAX_OUTER", 2)
    with pytest.warns(ConvergenceWarning) as caught:
        m = PandA(3, n_appearances=2, max_iter=5, tol=0.0, random_state=0).fit(small_Z)
    assert (m.stop_reason_, m.converged_) == ("alternations", False)
    assert len(caught) == 2
    assert re.match(r"PandA\(solver='projective'\) reached max_iter=5 before tol=0 ", str(caught[0].message))
    assert re.match(r"PandA\(solver='projective'\) made 2 alternations between the appearance and parts", str(caught[1].message))
    m = PandA(3, solver="pgd", max_iter=20, batch_size=None, random_state=0).fit(small_Z)
    assert (m.stop_reason_, m.converged_) == ("steps", True)
    with pytest.warns(ConvergenceWarning, match="collapsed to all-zero parts"):
        m = PandA(3, solver="pgd", max_iter=50, learning_rate=1.0, random_state=0).fit(small_Z)
    assert (m.stop_reason_, m.converged_) == ("collapsed", False)


@pytest.mark.parametrize("solver", ["projective", "pgd"])
def test_timings_on_result_and_model(small_Z, solver):
    params = {} if solver == "projective" else {"max_iter": 50, "batch_size": None}
    result = panda(small_Z, 3, solver=solver, random_state=0, **params)
    assert set(result.timings) == {"gram", "solve", "objective"}
    assert all(isinstance(t, float) and t >= 0 for t in result.timings.values())
    assert (result.timings["objective"] > 0) == (solver == "pgd")
    m = PandA(3, solver=solver, random_state=0, **params).fit(small_Z)
    assert set(m.timings_) == {"gram", "solve", "objective"}


def test_auto_is_not_a_solver(small_Z):
    """'auto' always meant 'projective': the default now says so, and 'auto' is refused."""
    assert inspect.signature(PandA).parameters["solver"].default == "projective"
    assert inspect.signature(panda).parameters["solver"].default == "projective"
    assert PandA(3, random_state=0).fit(small_Z).solver_ == "projective"
    with pytest.raises(ValueError, match=r"Invalid solver: got 'auto' instead of one of \{'projective', 'pgd', 'adam'\}"):
        PandA(3, solver="auto").fit(small_Z)


# ------------------------------------------------------------------------ from_factors
def test_from_factors_gives_a_fitted_model(small_Z):
    fitted = PandA(3, random_state=0).fit(small_Z, layer="main.5", generator_name="g")
    model = PandA.from_factors(
        fitted.parts_,
        fitted.appearances_,
        feature_shape=(5, 3, 4),
        layer="main.5",
        generator_name="g",
        solver="projective",
        appearance_basis="orthonormal",
        objective=fitted.objective_,
        stop_reason="tol",
    )
    assert model.get_params() == {**PandA().get_params(), "n_parts": 3, "n_appearances": 5}
    assert (model.layer_, model.generator_, model.solver_, model.appearance_basis_) == ("main.5", "g", "projective", "orthonormal")
    assert (model.stop_reason_, model.converged_, model.timings_) == ("tol", True, {})
    assert model.feature_shape_ == (5, 3, 4) and model.n_parts_ == 3 and model.n_appearances_ == 5
    assert torch.equal(model.transform(small_Z), fitted.transform(small_Z))
    assert model.score(small_Z) == fitted.score(small_Z)
    torch.testing.assert_close(model.refine(small_Z[0]), fitted.refine(small_Z[0]))


def test_from_factors_defaults_and_conversion(small_Z):
    parts = torch.rand(2, 3, 4, dtype=torch.float64)
    model = PandA.from_factors(parts, torch.eye(5, 4, dtype=torch.float64))
    assert model.parts_.dtype == torch.float32 and model.appearances_.dtype == torch.float32
    assert model.feature_shape_ == (5, 3, 4) and (model.layer_, model.generator_) == (None, None)
    assert (model.solver, model.appearance_basis) == ("projective", "orthonormal")  # the constructor's defaults
    assert model.solver_ is None and model.stop_reason_ is None and model.converged_ is None
    assert math.isnan(model.objective_) and model.loss_history_ == [] and model.n_iter_ == 0
    assert model.transform(small_Z).shape == (30, 4, 2)


@pytest.mark.parametrize(
    "parts, appearances, kwargs, error, match",
    [
        ([[[0.0]]], torch.eye(5), {}, InvalidTypeError, r"parts must be a floating-point torch.Tensor \(n_parts, H, W\); got list"),
        (torch.ones(2, 3, 4), torch.eye(5).long(), {}, InvalidTypeError, r"appearances must be .*; got a torch.int64 tensor"),
        (torch.ones(2, 12), torch.eye(5), {}, InvalidInputError, r"parts must have shape \(n_parts, H, W\); got \(2, 12\)"),
        (torch.ones(0, 3, 4), torch.eye(5), {}, InvalidInputError, r"parts must have shape .*; got \(0, 3, 4\)"),
        (torch.ones(2, 3, 4), torch.full((5, 5), math.nan), {}, InvalidInputError, "appearances must be finite"),
        (-torch.ones(2, 3, 4), torch.eye(5), {}, InvalidInputError, "parts must be >= 0; got 24 negative entries"),
        (torch.ones(2, 3, 4), torch.eye(5), {"feature_shape": (5, 4, 3)}, IncompatibleFactorsError,
         r"imply features \(C, H, W\) = \(5, 3, 4\); got feature_shape=\(5, 4, 3\)"),
        (torch.ones(2, 3, 4), torch.eye(5), {"solver": "auto"}, ValueError, "Invalid solver: got 'auto'"),
        (torch.ones(2, 3, 4), torch.eye(5), {"appearance_basis": "x"}, ValueError, "Invalid appearance_basis: got 'x'"),
        (torch.ones(2, 3, 4), torch.eye(5), {"stop_reason": "done"}, ValueError, "Invalid stop_reason: got 'done'"),
    ],
)
def test_from_factors_refuses_bad_factors(parts, appearances, kwargs, error, match):
    with pytest.raises(error, match=match):
        PandA.from_factors(parts, appearances, **kwargs)


# ------------------------------------------------------------------------- structure
def test_benchmark_times_fits_without_monkeypatching(small_Z):
    """Importing bench_solvers replaces nothing in the library; its timings come from the fit."""
    modules = [decomposition, *(m for name, m in vars(decomposition).items() if inspect.ismodule(m))]
    def snapshot():
        return {m.__name__: {name: id(value) for name, value in vars(m).items()} for m in modules}

    before = snapshot()
    spec = importlib.util.spec_from_file_location("bench_solvers", REPO / "benchmarks" / "bench_solvers.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert snapshot() == before
    model, total, marks = bench.timed_fit(small_Z, n_parts=3, solver="pgd", max_iter=50, batch_size=None, random_state=0)
    assert len(marks) == len(model.loss_history_) == 50 and [rel for _, rel in marks] == model.loss_history_
    # the loss-history passes are left out of the total and of the trace (the last mark: all 50 of them)
    assert 0 < total and marks[-1][0] <= total
    source = (REPO / "benchmarks" / "bench_solvers.py").read_text()
    assert "_estimator" not in source and "timings_" in source


def test_no_decomposition_module_imports_private_names():
    """Shared helpers are public names of their module; private modules of the package may be imported."""
    offenders = []
    for path in sorted((REPO / "panda_viz" / "decomposition").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_") and not (node.module is None and node.level)]
                if private:
                    offenders.append(f"{path.name}: from {'.' * node.level}{node.module or ''} import {private}")
    assert offenders == []
