"""Shared by the editing tests: the embedded DCGAN's features at ``LAYER`` and hand-made factors of them."""

from __future__ import annotations

import pytest
from factors_helpers import LAYER, make_factors


@pytest.fixture(scope="session")
def Z(dcgan):
    """Feature maps (48, C, H, W) of 48 real samples (seed 3) at ``LAYER``."""
    return dcgan.features(dcgan.sample_latents(48, seed=3), LAYER)


@pytest.fixture(scope="session")
def model(Z):
    """Hand-made factors of ``Z`` (``factors_helpers.make_factors``)."""
    return make_factors(Z)
