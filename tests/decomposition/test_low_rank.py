"""LowRankApproximations: the errors it reports are its reconstructions' errors, HOSVD truncations
come from one decomposition, and impossible ranks are refused with the possible range."""

from __future__ import annotations

import pytest
import torch

from panda_viz.decomposition.low_rank import LowRankApproximations
from panda_viz.exceptions import InvalidInputError, InvalidTypeError


@pytest.fixture(scope="module")
def approx(dcgan_main5):
    return LowRankApproximations(dcgan_main5[:32], panda_max_iter=50)


def relative_error(Z, Z_hat):
    return float(((Z_hat.double() - Z.double()) ** 2).sum() / (Z.double() ** 2).sum())


@pytest.mark.parametrize("method, ranks", [("hosvd", (256, 8)), ("hosvd", (16, 3)), ("mpca", (32, 4)),
                                           ("panda", (256, 4))])
def test_reported_error_is_the_reconstructions(approx, method, ranks):
    fit = approx.get(method, *ranks)
    Z = approx.Z
    assert fit.error == pytest.approx(relative_error(Z, fit.reconstruct(Z)), rel=1e-4, abs=1e-6)
    assert fit.spatial_factors.shape == (ranks[1], 8, 8)
    assert fit.channel_factors.shape == (256, ranks[0])
    assert approx.get(method, *ranks) is fit  # cached
    assert approx.fitted_errors(method)[ranks] == fit.error


def test_hosvd_errors_fall_with_either_rank_and_vanish_at_full_rank(approx):
    table = approx.hosvd_errors()
    assert table.shape == (256, 64)
    assert (table[1:] <= table[:-1] + 1e-12).all() and (table[:, 1:] <= table[:, :-1] + 1e-12).all()
    assert float(table[-1, -1]) == pytest.approx(0, abs=1e-9)
    assert float(table[0, 0]) < 1


def test_orthonormal_factors_and_panda_parts_nonnegative(approx):
    for method in ("hosvd", "mpca"):
        U = approx.get(method, 32, 4).spatial_factors.flatten(1).double()
        torch.testing.assert_close(U @ U.T, torch.eye(4, dtype=torch.float64), atol=1e-5, rtol=0)
    assert (approx.get("panda", 256, 4).spatial_factors >= 0).all()


def test_nonnegative_parts_cost_error_against_the_best_orthonormal_spatial_factor(approx):
    # with R_C = C, U_S of the HOSVD is the best orthonormal spatial basis of rank R_S
    assert approx.get("panda", 256, 4).error >= approx.get("hosvd", 256, 4).error - 1e-6


def test_precompute_fits_every_pair_once(approx):
    approx.precompute("mpca", [(256, 1), (256, 2)], show_progress=False)
    assert {(256, 1), (256, 2)} <= set(approx.fitted_errors("mpca"))
    assert approx.is_cached("mpca", 256, 2) and not approx.is_cached("panda", 7, 7)


@pytest.mark.parametrize("method, r_c, r_s, match", [
    ("svd", 1, 1, r"Invalid method: got 'svd' instead of one of \{'hosvd', 'mpca', 'panda'\}"),
    ("hosvd", 0, 1, r"R_C must be an int in \[1, 256\] \(the layer has 256 channels C\); got 0"),
    ("panda", 1, 65, r"R_S must be an int in \[1, 64\] \(the layer has 64 positions S = H·W\); got 65"),
    ("mpca", 2.0, 1, r"R_C must be an int in \[1, 256\].*got 2.0"),
])
def test_impossible_ranks_say_what_is_possible(approx, method, r_c, r_s, match):
    with pytest.raises(InvalidInputError, match=match):
        approx.get(method, r_c, r_s)


@pytest.mark.parametrize("Z, kwargs, error, match", [
    ([[1.0]], {}, InvalidTypeError, "Z must be a torch.Tensor"),
    (torch.ones(2, 3, 4), {}, InvalidInputError, r"\(N, C, H, W\) with every size >= 1 expected; got \(2, 3, 4\)"),
    (torch.zeros(2, 3, 2, 2), {}, InvalidInputError, "all zeros"),
    (torch.full((2, 3, 2, 2), float("nan")), {}, InvalidInputError, "non-finite"),
    (torch.ones(2, 3, 2, 2), {"panda_max_iter": 0}, InvalidInputError, r"panda_max_iter must be an int in \[1, inf\]; got 0"),
])
def test_bad_features_are_refused(Z, kwargs, error, match):
    with pytest.raises(error, match=match):
        LowRankApproximations(Z, **kwargs)


def test_one_sample_mpca_is_its_mean():
    Z = torch.randn(1, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    fit = LowRankApproximations(Z).get("mpca", 1, 1)
    assert fit.error == 0
    torch.testing.assert_close(fit.reconstruct(Z), Z)
