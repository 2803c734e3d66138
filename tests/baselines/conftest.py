"""The tiny official-code generators of tests/data, for the style-based baseline tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from testdata import TESTDATA

import panda_viz


@pytest.fixture()
def testvectors() -> Path:
    """``tests/data/``: the reference generators' folders (see tests/data/README.md)."""
    return TESTDATA


@pytest.fixture()
def stylegan2(testvectors):
    """``stylegan2(latent_space)``: the tiny NVlabs StyleGAN2 of the test vectors, with z, w or w+ latents."""
    folder = testvectors / "stylegan2"

    def load(latent_space: str):
        return panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json", latent_space=latent_space)

    return load
