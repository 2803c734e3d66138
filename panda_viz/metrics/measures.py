"""Metrics for local edits: ROIR (PandA Eq. 7), sliced Wasserstein distance, FID, MSE maps.

Images are generator outputs (N, 3, H, W) in [-1, 1] (tensors or arrays) unless said
otherwise; masks are (H, W), (1, H, W) or (N, H, W) in [0, 1], replicated over channels.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..exceptions import (
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    UnsafeFileError,
    WeightsNotInstalledError,
)

__all__ = [
    "RoirResult",
    "roir",
    "SwdResult",
    "swd",
    "laplacian_pyramid",
    "fid",
    "frechet_distance",
    "mse_maps",
    "INCEPTION_ENV",
]

#: Environment variable naming a local FID detector file (see :func:`fid`).
INCEPTION_ENV = "PANDA_VIZ_INCEPTION"


def _images(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 4:
        raise ValueError(f"{name}: images of shape (N, C, H, W) expected; got {tuple(t.shape)}")
    return t.to(torch.float64 if t.dtype == torch.float64 else torch.float32)


def _mask(mask: torch.Tensor | np.ndarray, n: int, hw: tuple[int, int], *, device: torch.device) -> torch.Tensor:
    m = mask.detach() if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
    m = m.to(device=device, dtype=torch.float64)
    given = tuple(m.shape)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or tuple(m.shape[1:]) != tuple(hw) or len(m) not in (1, n):
        raise ValueError(
            f"mask of shape ({hw[0]}, {hw[1]}), (1, {hw[0]}, {hw[1]}) or ({n}, {hw[0]}, {hw[1]}) expected "
            f"for images (N={n}, H={hw[0]}, W={hw[1]}); got {given}"
        )
    if m.numel() and (m.min() < 0 or m.max() > 1):
        raise ValueError(f"mask values must lie in [0, 1]; got range [{float(m.min()):.3g}, {float(m.max()):.3g}]")
    if not (m.flatten(1).sum(1) > 0).all():
        raise ValueError("mask is empty (all zeros): ROIR needs a region of interest")
    return m


# --------------------------------------------------------------------------- ROIR
@dataclass(frozen=True)
class RoirResult:
    """ROIR over a batch (PandA Eq. 7): lower means a more local edit.

    Attributes
    ----------
    mean, std : float
        Over the samples whose edit changed the region of interest (NaN if none did).
    values : ndarray (N,)
        Per-sample ratio ‖(1−M)(X−X′)‖ / ‖M(X−X′)‖; NaN where the region did not change.
    unchanged : ndarray of int
        Indices of samples whose edit changed nothing inside the mask (left out of mean/std).
    inside, outside : ndarray (N,)
        The denominators ‖M(X−X′)‖ and numerators ‖(1−M)(X−X′)‖.
    """

    mean: float
    std: float
    values: np.ndarray
    unchanged: np.ndarray
    inside: np.ndarray = field(repr=False)
    outside: np.ndarray = field(repr=False)

    @property
    def n_unchanged(self) -> int:
        return len(self.unchanged)

    def __str__(self) -> str:
        extra = f" ({self.n_unchanged} unchanged samples left out)" if self.n_unchanged else ""
        return f"{self.mean:.3f} ± {self.std:.3f}{extra}"


def roir(
    images: torch.Tensor | np.ndarray,
    edited: torch.Tensor | np.ndarray,
    mask: torch.Tensor | np.ndarray,
    *,
    atol: float = 1e-12,
) -> RoirResult:
    """Ratio of change outside over inside a region of interest (PandA Eq. 7).

    ROIR(M, X, X′) = 1/N Σ_i ‖(1 − M) ∗ (X_i − X′_i)‖ / ‖M ∗ (X_i − X′_i)‖, with the
    spatial mask M replicated along channels and Frobenius norms over (C, H, W).

    Parameters
    ----------
    images, edited : (N, C, H, W)
        Originals and their edits.
    mask : (H, W), (1, H, W) or (N, H, W), values in [0, 1]
        Region of interest (soft masks weight pixels).
    atol : float
        An inside change ‖M(X−X′)‖ at or below this counts as "nothing changed": that sample
        is reported in ``unchanged`` (with a warning) and left out of the mean, never
        turned into inf.

    Returns
    -------
    RoirResult
    """
    x = _images(images, "images")
    y = _images(edited, "edited")
    if x.shape != y.shape:
        raise ValueError(f"images and edited must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    m = _mask(mask, len(x), tuple(x.shape[-2:]), device=x.device)[:, None]
    diff = (x - y).to(torch.float64)
    inside = (m * diff).flatten(1).norm(dim=1)
    outside = ((1 - m) * diff).flatten(1).norm(dim=1)
    changed = inside > atol
    values = torch.full_like(inside, float("nan"))
    values[changed] = outside[changed] / inside[changed]
    unchanged = torch.nonzero(~changed).flatten().cpu().numpy()
    if len(unchanged):
        warnings.warn(
            f"ROIR: {len(unchanged)} of {len(x)} edits changed nothing inside the mask "
            f"(samples {unchanged[:10].tolist()}{' …' if len(unchanged) > 10 else ''}); left out of the mean",
            RuntimeWarning,
            stacklevel=2,
        )
    kept = values[changed]
    mean = float(kept.mean()) if len(kept) else float("nan")
    std = float(kept.std(unbiased=False)) if len(kept) else float("nan")
    return RoirResult(
        mean=mean,
        std=std,
        values=values.cpu().numpy(),
        unchanged=unchanged,
        inside=inside.cpu().numpy(),
        outside=outside.cpu().numpy(),
    )


# ---------------------------------------------------------------------------- MSE
def mse_maps(images: torch.Tensor | np.ndarray, edited: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-pixel squared error between originals and edits, averaged over channels.

    Parameters
    ----------
    images, edited : (N, C, H, W)

    Returns
    -------
    ndarray (N, H, W), float32
        ``mse_maps(x, y).mean(0)`` is the mean map shown under the edits in PandA's Fig. 7.
    """
    x = _images(images, "images")
    y = _images(edited, "edited")
    if x.shape != y.shape:
        raise ValueError(f"images and edited must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    return ((x - y) ** 2).mean(1).to(torch.float32).cpu().numpy()


# ---------------------------------------------------------------------------- SWD
# ProGAN's (Karras et al. 2018) metrics/sliced_wasserstein.py, in torch.
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0  # outer(b, b) is ProGAN's 5×5 gaussian_filter


def _filter(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """ProGAN's 5×5 binomial filter (separable) with mirror boundaries (scipy ``mode='mirror'``)."""
    n, c, h, w = x.shape
    k = (_BINOMIAL * gain).to(x.device, x.dtype)
    flat = F.pad(x.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode="reflect")
    flat = F.conv2d(F.conv2d(flat, k.reshape(1, 1, 1, 5)), k.reshape(1, 1, 5, 1))
    return flat.reshape(n, c, h, w)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _filter(x)[:, :, ::2, ::2]


def _pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _filter(up, gain=2.0)  # 4× the 2-D kernel


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """ProGAN's Laplacian pyramid, finest level first (the last level is the Gaussian residual)."""
    pyramid = [images.to(torch.float32)]
    for _ in range(1, levels):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - _pyr_up(pyramid[-1])
    return pyramid


def _patch_centres(n: int, h: int, w: int, per_image: int, size: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    half = size // 2
    if h < size or w < size:
        raise ValueError(f"a pyramid level of {h}×{w} is smaller than the {size}×{size} descriptors")
    ys = torch.randint(half, h - half, (n, per_image), generator=rng)
    xs = torch.randint(half, w - half, (n, per_image), generator=rng)
    return ys, xs


def _descriptors(level: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, size: int) -> torch.Tensor:
    n, c, h, w = level.shape
    half = size // 2
    per_image = ys.shape[1]
    # ProGAN's flat indexing: (image, channel, y, x) -> offset, for every patch pixel
    offsets = torch.arange(-half, half + 1)
    img = torch.arange(n)[:, None].expand(n, per_image).reshape(-1, 1, 1, 1)
    chan = torch.arange(c).reshape(1, c, 1, 1)
    y = ys.reshape(-1, 1, 1, 1) + offsets.reshape(1, 1, -1, 1)
    x = xs.reshape(-1, 1, 1, 1) + offsets.reshape(1, 1, 1, -1)
    idx = ((img * c + chan) * h + y) * w + x  # (n*per_image, c, size, size)
    desc = level.reshape(-1)[idx.to(level.device)]
    return desc


def _finalize(desc: torch.Tensor) -> torch.Tensor:
    desc = desc - desc.mean(dim=(0, 2, 3), keepdim=True)
    desc = desc / desc.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-12)
    return desc.flatten(1)


def _sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, repeats: int, per_repeat: int, rng: torch.Generator) -> float:
    results = []
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], per_repeat, generator=rng).to(a.device, a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        # numpy's sort is the faster of the two on CPUs; sort each direction's projections
        pa = np.sort((a @ dirs).T.cpu().numpy(), axis=1)
        pb = np.sort((b @ dirs).T.cpu().numpy(), axis=1)
        results.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(results))


@dataclass(frozen=True)
class SwdResult:
    """Sliced Wasserstein distances per Laplacian-pyramid level, ×10³ as ProGAN reports them.

    Attributes
    ----------
    levels : dict
        Resolution (e.g. 64, 32, 16) -> SWD ×10³ at that level.
    mean : float
        Their average (ProGAN's "SWD avg").
    """

    levels: dict[int, float]
    mean: float

    def __str__(self) -> str:
        per = ", ".join(f"{r}px {v:.2f}" for r, v in self.levels.items())
        return f"SWD×1e3 {self.mean:.2f} ({per})"


def swd(
    images_a: torch.Tensor | np.ndarray,
    images_b: torch.Tensor | np.ndarray,
    *,
    descriptors_per_image: int = 128,
    descriptor_size: int = 7,
    dir_repeats: int = 4,
    dirs_per_repeat: int = 128,
    min_resolution: int = 16,
    value_range: tuple[float, float] = (-1.0, 1.0),
    random_state: int | torch.Generator = 0,
) -> SwdResult:
    """Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches.

    ProGAN's metric (Karras et al. 2018, ``metrics/sliced_wasserstein.py``): images are
    mapped to [0, 255]; a Laplacian pyramid (5×5 binomial filter, mirror boundaries) is
    built down to ``min_resolution``; at each level ``descriptors_per_image`` random 7×7
    patches are drawn from every image; each set's descriptors are normalised per channel
    (its own mean and std, as ProGAN does); then for ``dir_repeats`` batches of
    ``dirs_per_repeat`` random unit directions the sorted projections of the two sets are
    compared point by point. Reported ×10³ per level and averaged.

    One deviation from ProGAN, for comparing originals with their edits: the patch centres
    are drawn once per level and used for image i of *both* sets (ProGAN draws them
    independently per set). The estimator targets the same distance, but with paired
    patches an unchanged set scores exactly 0 and small edits are not lost in sampling
    noise (with independent draws, a 1k-image set of this generator compared with itself
    scores about 5).

    Parameters
    ----------
    images_a, images_b : (N, 3, H, W)
        The two sets, the same size N (as ProGAN requires: one descriptor set each).
    value_range : (lo, hi)
        The range of the inputs ([-1, 1] for generator output).
    random_state : int or torch.Generator
        Seeds patch positions and projection directions (its own generator).

    Returns
    -------
    SwdResult
    """
    a = _images(images_a, "images_a").to(torch.float32)
    b = _images(images_b, "images_b").to(torch.float32)
    if a.shape != b.shape:
        raise ValueError(f"images_a and images_b must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    lo, hi = value_range
    a = (a - lo) * (255.0 / (hi - lo))
    b = (b - lo) * (255.0 / (hi - lo))
    rng = random_state if isinstance(random_state, torch.Generator) else torch.Generator().manual_seed(int(random_state))
    res = a.shape[-1]
    resolutions = []
    while res >= min_resolution:
        resolutions.append(res)
        res //= 2
    if not resolutions:
        raise ValueError(f"images of width {a.shape[-1]} are below min_resolution={min_resolution}")
    pa = laplacian_pyramid(a, len(resolutions))
    pb = laplacian_pyramid(b, len(resolutions))
    levels = {}
    for r, la, lb in zip(resolutions, pa, pb):
        ys, xs = _patch_centres(len(la), la.shape[-2], la.shape[-1], descriptors_per_image, descriptor_size, rng)
        da = _finalize(_descriptors(la, ys, xs, descriptor_size))
        db = _finalize(_descriptors(lb, ys, xs, descriptor_size))
        levels[r] = 1e3 * _sliced_wasserstein(da, db, dir_repeats, dirs_per_repeat, rng)
    return SwdResult(levels=levels, mean=float(np.mean(list(levels.values()))))


# ---------------------------------------------------------------------------- FID
def frechet_distance(feats_a: torch.Tensor | np.ndarray, feats_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D).

    ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a^½ Σ_b Σ_a^½)^½), with the trace of the matrix
    square root from the eigenvalues of the symmetric Σ_a^½ Σ_b Σ_a^½ (float64).
    """
    fa = torch.as_tensor(np.asarray(feats_a) if not isinstance(feats_a, torch.Tensor) else feats_a).to(torch.float64)
    fb = torch.as_tensor(np.asarray(feats_b) if not isinstance(feats_b, torch.Tensor) else feats_b).to(torch.float64)
    if fa.ndim != 2 or fb.ndim != 2 or fa.shape[1] != fb.shape[1] or len(fa) < 2 or len(fb) < 2:
        raise ValueError(f"feature sets (N, D) with the same D and N ≥ 2 expected; got {tuple(fa.shape)} and {tuple(fb.shape)}")
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    cov_a, cov_b = torch.cov(fa.T), torch.cov(fb.T)
    w, v = torch.linalg.eigh(cov_a)
    root_a = (v * w.clamp_min(0).sqrt()) @ v.T
    middle = root_a @ cov_b @ root_a
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt)


def _detector_from_file(path: Path, *, trust_torchscript: bool, source: str) -> Callable[[torch.Tensor], torch.Tensor]:
    from .inception import is_torchscript, load_fid_inception

    if not path.is_file():
        raise WeightsNotInstalledError(f"Inception weights not found at {str(path)!r} ({source})")
    if is_torchscript(path):
        if not trust_torchscript:
            raise UnsafeFileError(
                f"{path} ({source}) is a TorchScript archive: loading it runs the code inside it, and panda_viz has "
                "no checksum to verify it by. Use the weights-only detector instead (pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth, read as data), or, if you trust this file (e.g. NVIDIA's "
                "inception-2015-12-05.pt that you downloaded yourself), pass trust_torchscript=True to run it",
                path,
            )
        try:
            module = torch.jit.load(str(path), map_location="cpu").eval()
        except (RuntimeError, ValueError, OSError) as error:
            raise InvalidFileError(f"{path}: not a loadable TorchScript detector ({str(error)[:300]})", path) from None

        def features(uint8_images: torch.Tensor) -> torch.Tensor:
            return module(uint8_images, return_features=True)

        return features
    return load_fid_inception(path)


def fid(
    images_a: torch.Tensor | np.ndarray,
    images_b: torch.Tensor | np.ndarray,
    *,
    detector: str | os.PathLike | Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 64,
    trust_torchscript: bool = False,
) -> float:
    """Fréchet Inception distance between two image sets, from locally present weights only.

    Nothing is ever downloaded, nothing is picked up from a cache folder, and no code from
    a file runs unless you say so. The detector is ``detector``, else the file named by the
    environment variable ``PANDA_VIZ_INCEPTION``; otherwise
    :class:`~panda_viz.exceptions.WeightsNotInstalledError` says how to provide one. It is:

    - a callable mapping uint8 images (N, 3, H, W) to features (N, D): used as given;
    - a ``torch.save`` state dict of the FID Inception-v3, i.e. pytorch-fid's
      ``pt_inception-2015-12-05-6726825d.pth``: read as data only
      (:func:`panda_viz.metrics.inception.load_fid_inception`; ``weights_only=True``, sizes,
      names and shapes checked first) into panda_viz's own network;
    - a TorchScript archive such as NVIDIA's ``inception-2015-12-05.pt`` (the detector of
      the StyleGAN2-ADA / StyleGAN3 metrics): loading it runs code from the file, so it is
      refused with :class:`~panda_viz.exceptions.UnsafeFileError` unless
      ``trust_torchscript=True`` (the environment variable cannot turn that on).

    Parameters
    ----------
    images_a, images_b : (N, 3, H, W) in [-1, 1], N >= 2
        The detector resizes internally (both networks resize to 299×299).
    detector : path or callable, optional
    batch_size : int
        Images per detector call.
    trust_torchscript : bool
        Run a TorchScript detector file (its code runs with your permissions).

    Returns
    -------
    float
        FID. Note that FID on ~1k samples is biased upwards; compare values at equal N and
        with the same detector (pytorch-fid's and NVIDIA's give slightly different values).
    """
    if not isinstance(trust_torchscript, bool):
        raise InvalidTypeError(f"trust_torchscript must be True or False; got {trust_torchscript!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive int; got {batch_size!r}")
    a, b = _images(images_a, "images_a"), _images(images_b, "images_b")
    for name, x in (("images_a", a), ("images_b", b)):
        if len(x) < 2 or x.shape[1] != 3:
            raise InvalidInputError(f"{name}: at least 2 RGB images (N >= 2, 3, H, W) expected; got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteError(f"{name} hold NaN or infinite values")
    if detector is None:
        env = os.environ.get(INCEPTION_ENV)
        if not env:
            raise WeightsNotInstalledError(
                "FID needs Inception weights, and panda_viz never downloads them. Save pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth (https://github.com/mseitzer/pytorch-fid/releases/download/"
                f"fid_weights/pt_inception-2015-12-05-6726825d.pth) and pass detector=PATH or set {INCEPTION_ENV}=PATH; "
                "or pass any callable uint8 images -> features"
            )
        features = _detector_from_file(Path(env), trust_torchscript=trust_torchscript, source=f"from {INCEPTION_ENV}")
    elif callable(detector):
        features = detector
    elif isinstance(detector, (str, os.PathLike)):
        features = _detector_from_file(Path(detector), trust_torchscript=trust_torchscript, source="detector=")
    else:
        raise InvalidTypeError(f"detector must be a path or a callable uint8 images -> features; got {type(detector).__name__}")

    def run(x: torch.Tensor) -> torch.Tensor:
        u8 = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        with torch.no_grad():
            return torch.cat([features(u8[s : s + batch_size]).detach().cpu() for s in range(0, len(u8), batch_size)])

    return frechet_distance(run(a), run(b))
