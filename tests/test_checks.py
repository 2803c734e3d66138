"""panda_viz._checks: the one rule for integers, numbers, choices and random states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panda_viz import _checks
from panda_viz.exceptions import InvalidInputError, InvalidTypeError, NonFiniteError


@pytest.mark.parametrize("value", [0, 3, -2, np.int64(4), np.uint8(1), 10**30])
def test_integers_are_ints_and_numpy_integers(value):
    assert _checks.is_int(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, "3", None, torch.tensor(3), np.float32(2)])
def test_bools_floats_strings_and_tensors_are_not_integers(value):
    assert not _checks.is_int(value)


def test_check_int_bounds_and_none():
    assert _checks.check_int("n", np.int32(5), low=1, high=5) == 5 and type(_checks.check_int("n", np.int32(5))) is int
    assert _checks.check_int("n", None, allow_none=True) is None
    with pytest.raises(InvalidTypeError, match=r"n must be an int; got bool True"):
        _checks.check_int("n", True)
    with pytest.raises(InvalidTypeError, match=r"n must be an int or None; got float 2.0"):
        _checks.check_int("n", 2.0, allow_none=True)
    with pytest.raises(InvalidInputError, match=r"n must be an int in \[1, 10\]; got 11"):
        _checks.check_int("n", 11, low=1, high=10)
    with pytest.raises(InvalidInputError, match=r"in \[-inf, 0\]; got 1"):
        _checks.check_int("n", 1, high=0)


def test_check_float_defaults_to_finite_positive():
    assert _checks.check_float("tol", 1) == 1.0 and _checks.check_float("tol", np.float32(0.5)) == 0.5
    assert _checks.check_float("tol", 0.0, strict=False) == 0.0
    assert _checks.check_float("a", -3.0, low=None) == -3.0
    with pytest.raises(InvalidInputError, match=r"tol must be a number in \(0.0, inf\]; got 0"):
        _checks.check_float("tol", 0.0)
    with pytest.raises(NonFiniteError, match="finite"):
        _checks.check_float("tol", float("nan"))
    assert _checks.check_float("x", float("inf"), finite=False) == float("inf")
    with pytest.raises(InvalidTypeError, match="real number"):
        _checks.check_float("tol", True)
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        _checks.check_float("p", 1.5, low=0, high=1, strict=False)


def test_check_bool():
    assert _checks.check_bool("flag", np.bool_(False)) is False
    with pytest.raises(InvalidTypeError, match="True or False; got int 1"):
        _checks.check_bool("flag", 1)


def test_near_misses_find_the_mistyped_name_first():
    layers = ["main.2", "main.5", "main.8", "main.11"]
    assert _checks.near_misses("main5", layers) == ["main.5"]  # separators ignored: nothing else is as close
    assert _checks.near_misses("MAIN.5", layers) == ["main.5"]
    assert _checks.near_misses("dcgan-digifce", ["dcgan-digiface", "stylegan2"]) == ["dcgan-digiface"]
    assert _checks.near_misses("zzzz", layers) == [] and _checks.near_misses(5, layers) == []


def test_check_choice_says_what_was_meant():
    assert _checks.check_choice("solver", "pgd", ("projective", "pgd")) == "pgd"
    with pytest.raises(InvalidInputError, match=r"Invalid solver: got 'pdg' instead of one of \{'projective', 'pgd', 'adam'\}; did you mean 'pgd'\?"):
        _checks.check_choice("solver", "pdg", ("projective", "pgd", "adam"))
    with pytest.raises(InvalidTypeError, match="Invalid solver: got 3"):
        _checks.check_choice("solver", 3, ("pgd",))
    message = _checks.unknown_name_message("layer", "main5", ["main.2", "main.5"])
    assert message == "unknown layer 'main5'; did you mean 'main.5'? Expected one of: 'main.2', 'main.5'"
    assert _checks.unknown_name_message("region", "ears", ["eyes"]) == "unknown region 'ears'; expected one of: 'eyes'"


def test_as_rng_one_rule_for_random_states():
    g = torch.Generator().manual_seed(1)
    assert _checks.as_rng(g) is g
    assert torch.equal(torch.rand(3, generator=_checks.as_rng(7)), torch.rand(3, generator=torch.Generator().manual_seed(7)))
    state = torch.get_rng_state()
    a, b = _checks.as_rng(None), _checks.as_rng(None)
    assert a.initial_seed() != b.initial_seed()  # fresh each call
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is neither used nor reseeded
    with pytest.raises(InvalidInputError, match=r"random_state must be None, an int in \[0, 2\*\*63 - 1\]"):
        _checks.as_rng(-1)
    with pytest.raises(InvalidTypeError, match="seed must be None, an int >= 0 or a torch.Generator; got str"):
        _checks.as_rng("abc", "seed")


def test_describe_is_short_and_safe():
    assert _checks.describe("x" * 100).endswith("...'") and len(_checks.describe("x" * 100)) < 70
    assert _checks.describe(np.int64(3)) == "3"
    assert _checks.describe(torch.zeros(2, 3)) == "a Tensor of shape (2, 3) (torch.float32)"
    assert _checks.describe([1, 2]) == "a list of 2 items"
