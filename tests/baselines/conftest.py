"""The tiny official-code generators of ../shared/testvectors, for the style-based baseline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import panda_viz

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testvectors"  # ../shared beside the checkout


@pytest.fixture()
def testvectors() -> Path:
    if not VECTORS.is_dir():
        pytest.skip("../shared/testvectors not found")
    return VECTORS


@pytest.fixture()
def stylegan2(testvectors):
    """``stylegan2(latent_space)``: the tiny NVlabs StyleGAN2 of the test vectors, with z, w or w+ latents."""
    folder = testvectors / "stylegan2"

    def load(latent_space: str):
        return panda_viz.load_generator(folder / "G_ema_state_dict.pt", config=folder / "config.json", latent_space=latent_space)

    return load
