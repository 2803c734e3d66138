"""Face-region masks (eyes, nose, mouth) for the embedded DigiFace DCGAN's 64×64 images.

How they are derived (reproducible with :func:`derive_face_landmarks`, checked by a test)
-----------------------------------------------------------------------------------------
DigiFace-1M crops are roughly aligned, so the generator's *mean* image is a sharp enough
face to locate its features from image statistics alone, with no labels or detector:

1. Draw ``n = 2000`` latents with ``seed = 0``, synthesise, average the luminance (mean of
   RGB) over samples: a 64×64 mean face.
2. Band-pass it with a difference of Gaussians, d = blur_σ=1.5 − blur_σ=6 (replicate
   borders): eyes, nostrils and mouth are its dark blobs (negative d).
3. Dark blobs are the local minima of d over 5×5 neighbourhoods with d < 0, each located
   to sub-pixel precision.
4. **Eyes**: the two strongest minima (they must lie side by side: |Δy| < |Δx|).
   Let D be the distance between them and m the x of their midpoint (the face midline).
   Of the minima below the eyes within D/2 of the midline, the two strongest are the
   **nostrils / nose tip** (the upper one) and the **mouth** (the lower one); minima
   within 0.3D vertically of a stronger one belong to the same feature (a wide mouth has
   several) and are skipped. Sub-pixel positions come from parabolic fits along x and y;
   pixel (i, j) covers [j, j+1) × [i, i+1), its centre at (j + 0.5, i + 0.5).
5. Regions are boxes in units of D around those landmarks (:data:`BOX_RULES`): each eye
   0.75D × 0.5D; the nose from 0.25D below the eye line to 0.2D below the nose landmark,
   0.6D wide; the mouth 1.25D × 0.6D. Nose and mouth boxes are centred on the midline m
   (their landmarks set only their height: the mouth's dark trough is wide and flat, so
   its strongest minimum need not be at its centre). Each box is softened by a Gaussian of σ = 1 px, so
   masks take values in [0, 1].

The landmarks this gives for the embedded generator are stored in :data:`DIGIFACE_LANDMARKS`
(so using the masks costs nothing); ``tests/test_regions.py`` re-derives them and checks
they agree. Per-sample faces vary in pose, so these are *mean-face* regions, like the
fixed ROI masks of the PandA paper's Table 2; for another generator or resolution call
:func:`derive_face_landmarks` and :func:`face_masks` with its landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int
from ..exceptions import InvalidInputError

__all__ = [
    "FaceLandmarks",
    "DIGIFACE_LANDMARKS",
    "BOX_RULES",
    "REGIONS",
    "derive_face_landmarks",
    "face_boxes",
    "face_masks",
    "face_mask",
]

REGIONS = ("eyes", "nose", "mouth")


@dataclass(frozen=True)
class FaceLandmarks:
    """Landmarks (x, y) in pixels of a ``size``×``size`` image (x right, y down)."""

    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    nose: tuple[float, float]
    mouth: tuple[float, float]
    size: int = 64

    @property
    def eye_distance(self) -> float:
        return float(np.hypot(self.right_eye[0] - self.left_eye[0], self.right_eye[1] - self.left_eye[1]))


#: What :func:`derive_face_landmarks` gives for ``dcgan-digiface`` (n=2000, seed=0), to 0.1 px.
DIGIFACE_LANDMARKS = FaceLandmarks(
    left_eye=(25.4, 28.8), right_eye=(38.9, 28.3), nose=(31.1, 45.4), mouth=(37.1, 52.3), size=64
)

#: Box sizes in units of the eye distance D (width, height), and the nose's vertical extent.
BOX_RULES = {
    "eye": (0.75, 0.5),
    "nose_width": 0.6,
    "nose_top_below_eyes": 0.25,
    "nose_bottom_below_landmark": 0.2,
    "mouth": (1.25, 0.6),
    "soften_sigma_px": 1.0,
}


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(np.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(image.dtype)
    x = F.pad(image[None, None], (r, r, r, r), mode="replicate")
    x = F.conv2d(F.conv2d(x, k.reshape(1, 1, 1, -1)), k.reshape(1, 1, -1, 1))
    return x[0, 0]


def _parabolic(lo: float, mid: float, hi: float) -> float:
    """Sub-pixel offset in [-0.5, 0.5] of the vertex of the parabola through three samples."""
    curvature = lo - 2 * mid + hi
    return 0.0 if curvature <= 0 else float(np.clip(0.5 * (lo - hi) / curvature, -0.5, 0.5))


def _dark_blobs(d: torch.Tensor) -> list[tuple[float, float, float]]:
    """Local minima of d (5×5) with d < 0, strongest first: (value, x, y), sub-pixel by parabolic fits."""
    pooled = -F.max_pool2d(-d[None, None], 5, stride=1, padding=2)[0, 0]
    ys, xs = torch.nonzero((d == pooled) & (d < 0), as_tuple=True)
    h, w = d.shape
    blobs = []
    for y, x in zip(ys.tolist(), xs.tolist()):
        dx = _parabolic(float(d[y, x - 1]), float(d[y, x]), float(d[y, x + 1])) if 0 < x < w - 1 else 0.0
        dy = _parabolic(float(d[y - 1, x]), float(d[y, x]), float(d[y + 1, x])) if 0 < y < h - 1 else 0.0
        blobs.append((float(d[y, x]), x + 0.5 + dx, y + 0.5 + dy))  # pixel centres at +0.5
    return sorted(blobs)


def landmarks_from_mean_image(mean_luminance: torch.Tensor) -> FaceLandmarks:
    """Steps 2–4 of the module docstring on a mean luminance image (H, W)."""
    lum = torch.as_tensor(mean_luminance, dtype=torch.float64)
    if lum.ndim != 2 or lum.shape[0] != lum.shape[1]:
        raise InvalidInputError(f"landmarks_from_mean_image: a square mean luminance image (H, W) expected; got {tuple(lum.shape)}")
    d = _blur(lum, 1.5) - _blur(lum, 6.0)
    blobs = _dark_blobs(d)
    if len(blobs) < 4:
        raise InvalidInputError(f"landmarks_from_mean_image: found {len(blobs)} dark blobs in the mean image; a face needs eyes, nose and mouth (4)")
    (_, xa, ya), (_, xb, yb) = blobs[0], blobs[1]
    if abs(ya - yb) >= abs(xa - xb):
        raise InvalidInputError(f"landmarks_from_mean_image: the two strongest dark blobs ({xa:.1f}, {ya:.1f}) and ({xb:.1f}, {yb:.1f}) are not side by side")
    left, right = sorted([(xa, ya), (xb, yb)])
    D = float(np.hypot(right[0] - left[0], right[1] - left[1]))
    mid_x, eye_y = (left[0] + right[0]) / 2, max(left[1], right[1])
    below = [(x, y) for _, x, y in blobs[2:] if y > eye_y + 0.25 * D and abs(x - mid_x) < D / 2]
    # a wide feature (the mouth) can hold several minima: the second landmark must lie at
    # least 0.3 D above or below the first
    first = below[0] if below else None
    second = next((p for p in below[1:] if abs(p[1] - first[1]) >= 0.3 * D), None) if first else None
    if second is None:
        raise InvalidInputError("landmarks_from_mean_image: fewer than two dark blobs below the eyes on the face midline (nose and mouth)")
    nose, mouth = sorted([first, second], key=lambda p: p[1])
    r = lambda p: (round(p[0], 1), round(p[1], 1))  # noqa: E731
    return FaceLandmarks(left_eye=r(left), right_eye=r(right), nose=r(nose), mouth=r(mouth), size=int(lum.shape[0]))


def derive_face_landmarks(generator=None, *, n: int = 2000, seed: int = 0, batch_size: int = 250) -> FaceLandmarks:
    """Derive face landmarks from a face generator's mean image (steps 1–4 of the module docstring).

    Parameters
    ----------
    generator : Generator, optional
        Default: the embedded ``dcgan-digiface``.
    n, seed : int
        Samples averaged, and their seed.
    """
    n = check_int("derive_face_landmarks: n", n, low=1)
    batch_size = check_int("derive_face_landmarks: batch_size", batch_size, low=1)
    if generator is None:
        from ..generators import load_generator

        generator = load_generator("dcgan-digiface")
    z = generator.sample_latents(n, seed=seed)
    total = None
    with torch.no_grad():
        for s in range(0, n, batch_size):
            lum = generator.synthesize(z[s : s + batch_size], progress=False).to(torch.float64).mean(1).sum(0)
            total = lum if total is None else total + lum
    return landmarks_from_mean_image((total / n).cpu())


def face_boxes(landmarks: FaceLandmarks = DIGIFACE_LANDMARKS) -> dict[str, list[tuple[float, float, float, float]]]:
    """The boxes (x0, y0, x1, y1) in pixels of each region (eyes: two boxes), from :data:`BOX_RULES`."""
    D = landmarks.eye_distance
    ew, eh = BOX_RULES["eye"]
    eyes = [(x - ew * D / 2, y - eh * D / 2, x + ew * D / 2, y + eh * D / 2) for x, y in (landmarks.left_eye, landmarks.right_eye)]
    mid_x = (landmarks.left_eye[0] + landmarks.right_eye[0]) / 2
    eye_y = max(landmarks.left_eye[1], landmarks.right_eye[1])
    nw = BOX_RULES["nose_width"] * D
    nose = [(mid_x - nw / 2, eye_y + BOX_RULES["nose_top_below_eyes"] * D,
             mid_x + nw / 2, landmarks.nose[1] + BOX_RULES["nose_bottom_below_landmark"] * D)]
    mw, mh = BOX_RULES["mouth"]
    mx, my = mid_x, landmarks.mouth[1]  # centred on the midline: the mouth's trough has several minima
    mouth = [(mx - mw * D / 2, my - mh * D / 2, mx + mw * D / 2, my + mh * D / 2)]
    return {"eyes": eyes, "nose": nose, "mouth": mouth}


def _box_mask(boxes, size: int, sigma: float) -> torch.Tensor:
    c = torch.arange(size, dtype=torch.float64) + 0.5  # pixel centres
    m = torch.zeros(size, size, dtype=torch.float64)
    for x0, y0, x1, y1 in boxes:
        inside_x = ((c >= x0) & (c <= x1)).to(torch.float64)
        inside_y = ((c >= y0) & (c <= y1)).to(torch.float64)
        m = torch.maximum(m, inside_y[:, None] * inside_x[None, :])
    if sigma > 0:
        m = _blur(m, sigma)
    return m.clamp(0, 1)


def face_masks(landmarks: FaceLandmarks = DIGIFACE_LANDMARKS, *, size: int | None = None) -> dict[str, torch.Tensor]:
    """Soft masks (size, size) in [0, 1] for ``"eyes"``, ``"nose"`` and ``"mouth"``, float32.

    Parameters
    ----------
    landmarks : FaceLandmarks
        Default: the embedded generator's (:data:`DIGIFACE_LANDMARKS`).
    size : int, optional
        Output resolution (default the landmarks' own); boxes are scaled to it.
    """
    size = landmarks.size if size is None else check_int("face_masks: size", size, low=1)
    scale = size / landmarks.size
    out = {}
    for region, boxes in face_boxes(landmarks).items():
        scaled = [tuple(v * scale for v in box) for box in boxes]
        out[region] = _box_mask(scaled, size, BOX_RULES["soften_sigma_px"] * scale).to(torch.float32)
    return out


def face_mask(region: str, landmarks: FaceLandmarks = DIGIFACE_LANDMARKS, *, size: int | None = None) -> torch.Tensor:
    """One region's mask (size, size): ``"eyes"``, ``"nose"`` or ``"mouth"`` (see :func:`face_masks`)."""
    region = check_choice("face region", region, REGIONS)
    return face_masks(landmarks, size=size)[region]
