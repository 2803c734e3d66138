"""panda_viz.decomposition.fitted: the one place that checks fitted factors against features and generators."""

import numpy as np
import pytest
import torch

from panda_viz.decomposition import PandA
from panda_viz.decomposition.fitted import (
    FittedFactors,
    appearance_indices,
    candidate_appearances,
    check_compatible,
    check_features_fit,
    check_fitted,
    feature_shape,
)
from panda_viz.exceptions import (
    IncompatibleFactorsError,
    InvalidIndexError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    NotFittedError,
)


@pytest.fixture
def factors():
    return PandA.from_factors(torch.rand(3, 8, 8), torch.rand(256, 5), layer="main.5", generator_name="dcgan-digiface")


def test_a_panda_model_is_fitted_factors(factors):
    assert isinstance(factors, FittedFactors) and check_fitted(factors) is factors
    assert feature_shape(factors) == (256, 8, 8)


def test_unfitted_and_inconsistent_models_are_refused(factors):
    with pytest.raises(NotFittedError, match="expected a fitted PandA model \\(with 'parts_'\\); got PandA"):
        check_fitted(PandA(n_parts=3))
    factors.feature_shape_ = (128, 8, 8)
    with pytest.raises(IncompatibleFactorsError, match=r"imply features \(C, H, W\) = \(256, 8, 8\); .* \(128, 8, 8\)"):
        check_features_fit(factors, torch.zeros(1, 256, 8, 8))


def test_integer_features_are_refused_as_in_transform(factors):
    with pytest.raises(InvalidTypeError, match="Z must be a floating-point tensor .* got dtype torch.int64"):
        check_features_fit(factors, torch.zeros(1, 256, 8, 8, dtype=torch.long))
    with pytest.raises(InvalidTypeError, match="floating-point"):
        factors.transform(torch.zeros(1, 256, 8, 8, dtype=torch.long))
    Z = torch.zeros(2, 256, 8, 8, dtype=torch.float64)
    assert check_features_fit(factors, Z) is Z


def test_features_fit_by_shape_while_a_fit_or_transform_also_needs_finite_values(factors):
    Z = torch.zeros(2, 256, 8, 8)
    Z[1, 0, 0, 0] = float("nan")
    assert check_features_fit(factors, Z) is Z  # the shape fits; the values are the consumer's
    with pytest.raises(NonFiniteError, match=r"NaN values in sample\(s\) 1"):
        factors.transform(Z)


def test_appearance_indices(factors):
    assert appearance_indices(factors, None).tolist() == [0, 1, 2, 3, 4]
    assert appearance_indices(factors, 4).tolist() == [4]
    with pytest.raises(InvalidInputError, match="appearances must be an int or a non-empty sequence of ints; got 1.5"):
        appearance_indices(factors, 1.5)
    with pytest.raises(InvalidIndexError, match=r"appearance index 5 out of range: the model has 5 appearances \(0 … 4\)"):
        appearance_indices(factors, [0, 5])


def test_candidate_appearances_are_the_first_n_or_the_indices_given(factors):
    assert candidate_appearances(factors, 3).tolist() == [0, 1, 2]
    assert candidate_appearances(factors, np.int64(2)).tolist() == [0, 1]
    assert candidate_appearances(factors, 16).tolist() == [0, 1, 2, 3, 4]  # the first 16 of 5: all of them
    assert candidate_appearances(factors, [4, 1]).tolist() == [4, 1]
    assert candidate_appearances(factors, None).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(InvalidInputError, match=r"candidates \(the first n appearances\) must be an int in \[1, inf\]; got 0"):
        candidate_appearances(factors, 0)
    with pytest.raises(InvalidIndexError, match="appearance index 5 out of range"):
        candidate_appearances(factors, [5])


def test_check_compatible_names_both_sides(dcgan, factors):
    assert check_compatible(dcgan, factors) == "main.5"
    with pytest.raises(IncompatibleFactorsError, match="fitted at layer 'main.5'; got layer='main.8'"):
        check_compatible(dcgan, factors, "main.8")
    factors.layer_ = "main.55"
    with pytest.raises(IncompatibleFactorsError, match=r"layer 'main.55' not found; did you mean 'main.5'[^?]*\? Layers: main.0"):
        check_compatible(dcgan, factors)
