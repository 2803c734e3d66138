"""Shared fixtures: the embedded real generator, loaded once per session."""

from __future__ import annotations

import pytest

import panda_viz


@pytest.fixture(scope="session")
def dcgan():
    """The embedded DigiFace-1M DCGAN (a real pretrained generator, never a stand-in)."""
    return panda_viz.load_generator("dcgan-digiface")


@pytest.fixture(scope="session")
def dcgan_latents(dcgan):
    """Six reproducible latents for the embedded generator."""
    return dcgan.sample_latents(6, seed=0)
