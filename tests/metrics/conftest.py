"""Images of the embedded generator, shared by the SWD and FID tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def faces(dcgan):
    return dcgan.synthesize(dcgan.sample_latents(64, seed=3))
