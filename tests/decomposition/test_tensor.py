"""The tensor algebra of panda_viz.decomposition.tensor: hand-computed cases, Kolda & Bader's
definitions, and TensorLy's (a test-only dependency: the reference implementation of the same
operations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panda_viz.decomposition import (
    fold,
    hosvd,
    mode_dot,
    mpca,
    multi_mode_dot,
    tucker_to_tensor,
    unfold,
)
from panda_viz.exceptions import InvalidInputError, InvalidTypeError

tl = pytest.importorskip("tensorly")
from tensorly.decomposition import partial_tucker  # noqa: E402
from tensorly.tenalg import mode_dot as tl_mode_dot  # noqa: E402
from tensorly.tenalg import multi_mode_dot as tl_multi_mode_dot  # noqa: E402


@pytest.fixture
def kolda_X():
    """Kolda & Bader (2009), Sec. 2.4: X (3 x 4 x 2) with frontal slices X1 = 1..12, X2 = 13..24
    filled column by column, i.e. X[i, j, k] = 1 + i + 3j + 12k."""
    i, j, k = torch.meshgrid(torch.arange(3), torch.arange(4), torch.arange(2), indexing="ij")
    return (1 + i + 3 * j + 12 * k).double()


def kolda_unfold(X: torch.Tensor, mode: int) -> torch.Tensor:
    """Kolda & Bader's X_(n): the remaining modes in Fortran order (the first varies fastest)."""
    moved = torch.movedim(X, mode, 0)
    rest = list(range(moved.ndim - 1, 0, -1))  # reversed, so C order runs the first remaining mode fastest
    return moved.permute(0, *rest).reshape(X.shape[mode], -1)


def random(shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --------------------------------------------------------------------------- unfolding
def test_kolda_and_baders_example_by_hand(kolda_X):
    # the matrices printed in Kolda & Bader's Sec. 2.4
    X1 = torch.tensor([[1, 4, 7, 10, 13, 16, 19, 22], [2, 5, 8, 11, 14, 17, 20, 23], [3, 6, 9, 12, 15, 18, 21, 24]])
    X2 = torch.tensor([[1, 2, 3, 13, 14, 15], [4, 5, 6, 16, 17, 18], [7, 8, 9, 19, 20, 21], [10, 11, 12, 22, 23, 24]])
    X3 = torch.arange(1, 25).reshape(2, 12)
    for mode, expected in enumerate([X1, X2, X3]):
        assert torch.equal(kolda_unfold(kolda_X, mode), expected.double())


def test_our_unfolding_is_tensorlys_c_order_by_hand(kolda_X):
    # columns: the remaining modes in order, the last fastest
    assert torch.equal(unfold(kolda_X, 0), torch.tensor([[1, 13, 4, 16, 7, 19, 10, 22],
                                                         [2, 14, 5, 17, 8, 20, 11, 23],
                                                         [3, 15, 6, 18, 9, 21, 12, 24]]).double())
    assert torch.equal(unfold(kolda_X, 1), torch.tensor([[1, 13, 2, 14, 3, 15], [4, 16, 5, 17, 6, 18],
                                                         [7, 19, 8, 20, 9, 21], [10, 22, 11, 23, 12, 24]]).double())
    assert torch.equal(unfold(kolda_X, 2), torch.tensor([[1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12],
                                                         [13, 16, 19, 22, 14, 17, 20, 23, 15, 18, 21, 24]]).double())


@pytest.mark.parametrize("shape", [(3, 4, 2), (2, 3, 4, 5), (5,), (4, 1, 3)])
def test_unfold_fold_agree_with_tensorly(shape):
    X = random(shape)
    for mode in range(len(shape)):
        ours = unfold(X, mode)
        assert torch.equal(ours, torch.from_numpy(tl.unfold(X.numpy(), mode)))
        assert torch.equal(fold(ours, mode, shape), X)
        assert torch.equal(torch.from_numpy(tl.fold(ours.numpy(), mode, shape)), X)
        assert torch.equal(unfold(X, mode - len(shape)), ours)  # negative modes count from the end


@pytest.mark.parametrize("shape", [(3, 4, 2), (2, 3, 4, 5)])
def test_kolda_unfolding_is_ours_with_permuted_columns(shape):
    X = random(shape, seed=1)
    for mode in range(len(shape)):
        ours, kolda = unfold(X, mode), kolda_unfold(X, mode)
        # the permutation: unfold a tensor of column indices the same two ways
        index = torch.arange(X.numel() // shape[mode]).reshape(*[s for m, s in enumerate(shape) if m != mode])
        index = torch.movedim(index.unsqueeze(mode), mode, mode).expand(*[1 if m == mode else s for m, s in enumerate(shape)])
        perm = kolda_unfold(index, mode)[0]
        assert torch.equal(kolda, ours[:, perm])
        assert sorted(perm.tolist()) == list(range(len(perm)))
        # so the Gram matrix, and with it every left singular vector (HOSVD, MPCA), is the same
        torch.testing.assert_close(kolda @ kolda.T, ours @ ours.T)


# --------------------------------------------------------------------------- mode-n product
def test_mode_dot_by_hand(kolda_X):
    # Kolda & Bader Sec. 2.5: Y = X x_1 U with U = [[1 3 5], [2 4 6]] has frontal slices
    # Y1 = [[22 49 76 103], [28 64 100 136]], Y2 = [[130 157 184 211], [172 208 244 280]]
    U = torch.tensor([[1.0, 3, 5], [2, 4, 6]], dtype=torch.float64)
    Y = mode_dot(kolda_X, U, 0)
    assert Y.shape == (2, 4, 2)
    assert torch.equal(Y[:, :, 0], torch.tensor([[22, 49, 76, 103], [28, 64, 100, 136]]).double())
    assert torch.equal(Y[:, :, 1], torch.tensor([[130, 157, 184, 211], [172, 208, 244, 280]]).double())
    assert torch.equal(unfold(Y, 0), U @ unfold(kolda_X, 0))           # the definition Y_(n) = U X_(n)
    assert torch.equal(mode_dot(kolda_X, U.T, 0, transpose=True), Y)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_mode_dot_agrees_with_tensorly(mode):
    X = random((2, 3, 4, 5))
    M = random((6, X.shape[mode]), seed=2)
    torch.testing.assert_close(mode_dot(X, M, mode), torch.from_numpy(tl_mode_dot(X.numpy(), M.numpy(), mode)))
    torch.testing.assert_close(mode_dot(X, M.T, mode, transpose=True), mode_dot(X, M, mode))


def test_multi_mode_dot_agrees_with_tensorly_and_commutes_across_modes():
    X = random((3, 4, 5))
    Ms = [random((2, 3), 1), random((6, 5), 2)]
    ours = multi_mode_dot(X, Ms, [0, 2])
    torch.testing.assert_close(ours, torch.from_numpy(tl_multi_mode_dot(X.numpy(), [m.numpy() for m in Ms], [0, 2])))
    torch.testing.assert_close(ours, multi_mode_dot(X, Ms[::-1], [2, 0]))  # products along distinct modes commute


# --------------------------------------------------------------------------- HOSVD
def test_hosvd_of_a_rank_one_tensor_by_hand():
    a, b, c = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 1.0, 0.0]), torch.tensor([1.0, 1.0]) / 2**0.5
    X = torch.einsum("i,j,k->ijk", a, b, c).double()
    core, (U0, U1, U2) = hosvd(X, ranks=(1, 1, 1))
    torch.testing.assert_close(U0[:, 0], torch.tensor([0.6, 0.8], dtype=torch.float64))  # a / ‖a‖, sign fixed
    torch.testing.assert_close(U1[:, 0], b.double())
    torch.testing.assert_close(core, torch.full((1, 1, 1), 5.0, dtype=torch.float64))      # ‖a‖‖b‖‖c‖
    torch.testing.assert_close(tucker_to_tensor(core, [U0, U1, U2]), X)


def test_full_rank_hosvd_is_exact_and_orthonormal():
    X = random((4, 5, 6))
    core, factors = hosvd(X)
    assert core.shape == (4, 5, 6)
    for U in factors:
        torch.testing.assert_close(U.T @ U, torch.eye(U.shape[1], dtype=X.dtype))
    torch.testing.assert_close(tucker_to_tensor(core, factors), X)
    assert float(core.norm()) == pytest.approx(float(X.norm()))


def test_ranks_above_an_unfoldings_rank_complete_an_orthonormal_basis():
    X = random((5, 2, 1))                      # the mode-0 unfolding is 5 x 2: rank 2 at most
    core, (U0,) = hosvd(X, ranks=(4,), modes=(0,))
    assert U0.shape == (5, 4)
    torch.testing.assert_close(U0.T @ U0, torch.eye(4, dtype=X.dtype))
    torch.testing.assert_close(tucker_to_tensor(core, [U0], (0,)), X)


def test_truncated_hosvd_is_the_truncation_of_the_full_one():
    X = random((6, 5, 7))
    full_core, full = hosvd(X, modes=(0, 1))
    assert full_core.shape == (6, 5, 7)
    core, (U0, U1) = hosvd(X, ranks=(3, 2), modes=(0, 1))
    torch.testing.assert_close(U0, full[0][:, :3])
    torch.testing.assert_close(U1, full[1][:, :2])
    torch.testing.assert_close(core, full_core[:3, :2])
    # the error of every truncation from the full core's energy (orthonormal factors)
    approx = tucker_to_tensor(core, [U0, U1], (0, 1))
    err = float(((approx - X) ** 2).sum())
    assert err == pytest.approx(float((X**2).sum() - (full_core[:3, :2] ** 2).sum()))


def test_hosvd_agrees_with_tensorlys_definition():
    # TensorLy's HOSVD: U_n = leading left singular vectors of tl.unfold(X, n), core = X x_n U_n^T
    X = random((6, 5, 4), seed=3)
    ranks = (3, 2, 4)
    core, factors = hosvd(X, ranks)
    tl_factors = [np.linalg.svd(tl.unfold(X.numpy(), n), full_matrices=False)[0][:, :r] for n, r in enumerate(ranks)]
    for U, V in zip(factors, tl_factors):
        torch.testing.assert_close(U @ U.T, torch.from_numpy(V @ V.T))  # same subspaces (signs are free)
    tl_core = tl_multi_mode_dot(X.numpy(), tl_factors, transpose=True)
    tl_approx = tl.tucker_to_tensor((tl_core, tl_factors))
    torch.testing.assert_close(tucker_to_tensor(core, factors), torch.from_numpy(tl_approx))


# --------------------------------------------------------------------------- MPCA
def test_uncentred_mpca_is_tensorlys_partial_tucker():
    # MPCA without centring maximises the same thing as HOOI on the sample modes
    Z = random((30, 6, 8), seed=4)
    ranks = (3, 4)
    ours = mpca(Z, ranks, center=False, max_iter=200, tol=1e-14)
    (core, factors), _ = partial_tucker(Z.numpy(), rank=list(ranks), modes=[1, 2], n_iter_max=200, tol=1e-14)
    tl_approx = tl.tenalg.multi_mode_dot(core, factors, modes=[1, 2])
    tl_captured = float((tl_approx**2).sum() / (Z.numpy() ** 2).sum())
    assert ours.captured == pytest.approx(tl_captured, rel=1e-6)
    # the same approximation (up to both alternations' convergence)
    torch.testing.assert_close(ours.reconstruct(Z), torch.from_numpy(tl_approx), atol=1e-5, rtol=1e-5)


def test_mpca_never_captures_less_than_the_truncated_hosvd():
    Z = random((40, 6, 8), seed=5)
    X = Z - Z.mean(0)
    core, factors = hosvd(X, ranks=(2, 3), modes=(1, 2))
    hosvd_captured = float((core**2).sum() / (X**2).sum())
    result = mpca(Z, (2, 3))
    assert result.captured >= hosvd_captured - 1e-12
    # the captured fraction is the reconstruction's: 1 - captured = residual / scatter
    residual = float(((result.reconstruct(Z) - Z) ** 2).sum() / (X**2).sum())
    assert residual == pytest.approx(1 - result.captured, rel=1e-9)


def test_mpca_warm_start_from_its_own_solution_stays_there():
    Z = random((20, 5, 6), seed=6)
    first = mpca(Z, (2, 3), max_iter=100, tol=0)
    again = mpca(Z, (2, 3), init=first.factors, max_iter=1)
    assert again.captured == pytest.approx(first.captured, rel=1e-9)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, error, match", [
    (lambda: unfold(np.zeros((2, 3)), 0), InvalidTypeError, "tensor must be a torch.Tensor; got ndarray"),
    (lambda: unfold(torch.zeros(2, 3), 2), InvalidInputError, r"mode of a 2-D tensor must be an int in \[-2, 1\]; got 2"),
    (lambda: unfold(torch.zeros(2, 3), 1.0), InvalidTypeError, "mode of a 2-D tensor must be an int; got float 1.0"),
    (lambda: unfold(torch.tensor(1.0), 0), InvalidInputError, r"needs at least 1 mode\(s\); got shape \(\)"),
    (lambda: fold(torch.zeros(3, 5), 1, (2, 3, 4)), InvalidInputError,
     r"cannot fold a matrix of shape \(3, 5\) into \(2, 3, 4\) along mode 1: expected shape \(3, 8\)"),
    (lambda: mode_dot(torch.zeros(2, 3), torch.zeros(4, 2), 1), InvalidInputError,
     r"needs a matrix with 3 columns; got shape \(4, 2\) for a tensor of shape \(2, 3\)"),
    (lambda: mode_dot(torch.zeros(2, 3), torch.zeros(4, 2), 1, transpose=True), InvalidInputError,
     r"3 columns \(rows, with transpose=True\); got shape \(4, 2\)"),
    (lambda: multi_mode_dot(torch.zeros(2, 3), [torch.zeros(2, 2)], [0, 1]), InvalidInputError,
     r"one mode per matrix expected; got 1 matrices and modes \[0, 1\]"),
    (lambda: hosvd(torch.zeros(2, 3), ranks=(1,)), InvalidInputError,
     r"one rank per decomposed mode \(2, 3\); got \(1,\)"),
    (lambda: hosvd(torch.zeros(2, 3), ranks=(1, 4)), InvalidInputError, r"rank of mode 1 must be an int in \[1, 3\]; got 4"),
    (lambda: hosvd(torch.zeros(2, 3), ranks=(0, None)), InvalidInputError, r"rank of mode 0 must be an int in \[1, 2\]; got 0"),
    (lambda: hosvd(torch.zeros(2, 3), ranks=3), InvalidTypeError, "ranks must be a sequence of ints"),
    (lambda: hosvd(torch.zeros(2, 3), modes=(1, 1)), InvalidInputError, r"modes must not repeat; got \(1, 1\)"),
    (lambda: mpca(torch.ones(4, 2, 3), (1, 1)), InvalidInputError, "no scatter to capture"),
    (lambda: mpca(torch.randn(4, 2, 3), (1, 1), max_iter=-1), InvalidInputError, r"max_iter must be an int in \[0, inf\]; got -1"),
    (lambda: mpca(torch.randn(4, 2, 3), (1, 2), init=[torch.zeros(2, 1), torch.zeros(3, 3)]), InvalidInputError,
     r"init must hold one factor \(I_n, R_n\) per mode: \[\(2, 1\), \(3, 2\)\]"),
    (lambda: mpca(torch.randn(4, 2, 3), (1, 2)).reconstruct(torch.zeros(4, 3, 2)), InvalidInputError,
     r"Z of shape \(N, 2, 3\) expected; got \(4, 3, 2\)"),
])
def test_bad_inputs_say_what_was_expected(call, error, match):
    with pytest.raises(error, match=match):
        call()
