"""A small PandA model of the embedded generator, fitted once for the widget tests."""

from __future__ import annotations

import warnings

import pytest

from panda_viz.decomposition import fit_generator
from panda_viz.exceptions import ConvergenceWarning

LAYER = "main.5"


def _fit(generator, layer, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few iterations are enough for widgets
        return fit_generator(generator, layer, n_samples=64, seed=0, n_parts=4, max_iter=10, n_restarts=1,
                             random_state=0, **kwargs)


@pytest.fixture(scope="session")
def model(dcgan):
    """PandA at main.5 (256×8×8) with 4 parts, fitted on 64 samples (about two seconds)."""
    return _fit(dcgan, LAYER)


@pytest.fixture(scope="session")
def model_main8(dcgan):
    """A model of another layer (main.8), for the bad-input tests."""
    return _fit(dcgan, "main.8")
