"""Fréchet Inception distance (FID) between image sets, from locally present detector weights only.

Images are generator outputs (N, 3, H, W) in [-1, 1] (tensors or arrays). The detector's
network and its file are :mod:`panda_viz.metrics.inception`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import check_bool, check_has_data, check_int, describe
from ..exceptions import (
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    UnsafeFileError,
    WeightsNotInstalledError,
)
from .images import as_images
from .inception import is_torchscript, load_fid_inception

__all__ = ["fid", "frechet_distance", "INCEPTION_ENV"]

#: Environment variable naming a local FID detector file (see :func:`fid`).
INCEPTION_ENV = "PANDA_VIZ_INCEPTION"


def _as_features(feats: Any, name: str) -> torch.Tensor:
    """``feats`` (a tensor or array of numbers) as a float64 tensor; what else a detector returns is refused."""
    if isinstance(feats, torch.Tensor):
        return check_has_data(name, feats).detach().to(torch.float64)
    try:
        array = np.asarray(feats, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name} must be a tensor or array of numbers (N, D); got {describe(feats)}") from None
    return torch.from_numpy(array)


def frechet_distance(feats_a: torch.Tensor | np.ndarray, feats_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D).

    ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a^½ Σ_b Σ_a^½)^½), with the trace of the matrix
    square root from the eigenvalues of the symmetric Σ_a^½ Σ_b Σ_a^½ (float64).
    """
    return _frechet(feats_a, feats_b, ("feats_a", "feats_b"))


def _frechet(feats_a: Any, feats_b: Any, names: tuple[str, str]) -> float:
    fa, fb = (_as_features(f, name) for f, name in zip((feats_a, feats_b), names))
    if fa.ndim != 2 or fb.ndim != 2 or fa.shape[1] != fb.shape[1] or len(fa) < 2 or len(fb) < 2:
        raise InvalidInputError(
            f"feature sets (N, D) with the same D and N ≥ 2 expected; got {names[0]} of shape {tuple(fa.shape)} "
            f"and {names[1]} of shape {tuple(fb.shape)}")
    for name, f in zip(names, (fa, fb)):
        finite = torch.isfinite(f).all(dim=1)
        if not bool(finite.all()):  # eigh would fail to converge ("ill-conditioned") instead of naming them
            bad = torch.nonzero(~finite).flatten().tolist()
            raise NonFiniteError(
                f"{name}: the features of {len(bad)} of {len(f)} samples hold NaN or infinite values (sample(s) "
                f"{', '.join(map(str, bad[:5]))}{' …' if len(bad) > 5 else ''}); the Fréchet distance needs finite features"
            )
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    cov_a, cov_b = torch.cov(fa.T), torch.cov(fb.T)
    for name, mu, cov in zip(names, (mu_a, mu_b), (cov_a, cov_b)):
        if not (bool(torch.isfinite(cov).all()) and bool(torch.isfinite(mu).all())):
            raise NonFiniteError(f"{name}: finite features whose mean or covariance overflows float64 "
                                 f"(largest magnitude {float(fa.abs().max() if name == names[0] else fb.abs().max()):.3g})")
    try:
        w, v = torch.linalg.eigh(cov_a)
        root_a = (v * w.clamp_min(0).sqrt()) @ v.T
        middle = root_a @ cov_b @ root_a
        tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    except torch.linalg.LinAlgError as err:  # finite but degenerate beyond what eigh resolves
        raise InvalidInputError(f"{names[0]} and {names[1]}: the Fréchet distance could not be computed: {err}") from None
    return float((mu_a - mu_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt)


def _detector_from_file(path: Path, *, trust_torchscript: bool, source: str) -> Callable[[torch.Tensor], torch.Tensor]:
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
      (:func:`panda_viz.metrics.inception.load_fid_inception`: read by panda_viz's own
      ``torch.save`` reader, which runs no code; names and shapes checked first) into panda_viz's own network;
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
    trust_torchscript = check_bool("trust_torchscript", trust_torchscript)
    batch_size = check_int("batch_size", batch_size, low=1)
    a, b = as_images(images_a, "images_a"), as_images(images_b, "images_b")
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
            return torch.cat([_detector_output(features(u8[s : s + batch_size]), s) for s in range(0, len(u8), batch_size)])

    return _frechet(run(a), run(b), ("the FID detector's features of images_a", "the FID detector's features of images_b"))


def _detector_output(value: Any, start: int) -> torch.Tensor:
    """One detector call's features, on the CPU; a detector that returns something else is named."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor) or value.is_meta:
        raise InvalidTypeError(f"fid: the detector must return a tensor of features (N, D); for the images from "
                               f"{start} on it returned {describe(value)}")
    return value.detach().cpu()
