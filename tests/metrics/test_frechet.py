"""The Fréchet distance on known Gaussians, and FID with a feature callable or without weights."""

from __future__ import annotations

import pytest
import torch

from panda_viz.exceptions import WeightsNotInstalledError
from panda_viz.metrics import fid, frechet_distance


def test_frechet_distance():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    # N(0, I) vs N(mu, 4I): |mu|^2 + 3 * (1 + 4 - 2*2)
    b = 2 * torch.randn(4000, 3, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert frechet_distance(a, b) == pytest.approx(1 + 3, rel=0.1)


def test_fid_with_a_feature_callable_and_without_weights(faces, monkeypatch, tmp_path):
    feats = lambda u8: u8.float().flatten(1)[:, ::1300]  # noqa: E731  (a stand-in detector)
    assert fid(faces, faces, detector=feats) == pytest.approx(0, abs=1e-4)
    monkeypatch.delenv("PANDA_VIZ_INCEPTION", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsNotInstalledError, match="never downloads"):
        fid(faces, faces)
    with pytest.raises(WeightsNotInstalledError, match="not found"):
        fid(faces, faces, detector=tmp_path / "missing.pt")
