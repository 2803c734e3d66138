"""Face-region masks: reproducible from the mean image, sane geometry."""

from __future__ import annotations

import pytest
import torch

from panda_viz.paper.regions import (
    DIGIFACE_LANDMARKS,
    derive_face_landmarks,
    face_boxes,
    face_mask,
    face_masks,
)


def test_stored_landmarks_are_reproduced(dcgan):
    derived = derive_face_landmarks(dcgan)
    for name in ("left_eye", "right_eye", "nose", "mouth"):
        got, want = getattr(derived, name), getattr(DIGIFACE_LANDMARKS, name)
        assert max(abs(g - w) for g, w in zip(got, want)) <= 0.15, (name, got, want)


def test_landmarks_are_stable_across_seeds(dcgan):
    """Another 1000 samples give landmarks within a pixel: the rule reads the data, not noise."""
    other = derive_face_landmarks(dcgan, n=1000, seed=7)
    for name in ("left_eye", "right_eye"):
        got, want = getattr(other, name), getattr(DIGIFACE_LANDMARKS, name)
        assert max(abs(g - w) for g, w in zip(got, want)) <= 1.0
    assert abs(other.mouth[1] - DIGIFACE_LANDMARKS.mouth[1]) <= 1.0
    assert abs(other.nose[1] - DIGIFACE_LANDMARKS.nose[1]) <= 1.0


def test_masks_geometry():
    masks = face_masks()
    assert set(masks) == {"eyes", "nose", "mouth"}
    for m in masks.values():
        assert m.shape == (64, 64) and m.dtype == torch.float32
        assert m.min() >= 0 and m.max() <= 1 and m.max() > 0.99
    lm = DIGIFACE_LANDMARKS
    assert lm.left_eye[1] < lm.nose[1] < lm.mouth[1]
    # centres of mass in the expected order top to bottom, regions barely overlap
    rows = torch.arange(64, dtype=torch.float32)[:, None]
    cy = {k: float((m * rows).sum() / m.sum()) for k, m in masks.items()}
    assert cy["eyes"] < cy["nose"] < cy["mouth"]
    assert float((masks["eyes"] * masks["mouth"]).sum()) == 0
    assert len(face_boxes()["eyes"]) == 2


def test_masks_rescale_and_bad_region():
    assert face_masks(size=128)["mouth"].shape == (128, 128)
    assert face_mask("eyes", size=32).shape == (32, 32)
    with pytest.raises(ValueError, match=r"Invalid face region: got 'ears' instead of one of \{'eyes', 'nose', 'mouth'\}"):
        face_mask("ears")
